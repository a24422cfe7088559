package topology

import (
	"fmt"
	"html"
	"strings"
)

// The drawing is a bus diagram: each network is a vertical bar; each
// router and instance is a box in the left column, on its own row, with
// a horizontal line to the right as far as its last network and a dot,
// labelled with its addresses, where it attaches to a network. Nothing
// is placed by search, so the same cloud always gives the same picture.
const (
	margin   = 20
	nodeW    = 180 // node box width
	nodeH    = 40
	rowH     = 64
	barW     = 12
	barGap   = 170 // distance between network bars
	headerH  = 70  // network names and CIDRs above the bars
	firstBar = margin + nodeW + 60
)

// palette colours tenant networks in turn; external networks are red.
var palette = []string{"#2f7ed8", "#8bbc21", "#910000", "#1aadce", "#492970", "#f28f43", "#77a1e5", "#c42525"}

const externalColour = "#d9534f"

// layout is where things go.
type layout struct {
	c      Cloud
	barX   map[string]int // network id -> bar's left x
	colour map[string]string
	rows   int
	w, h   int
}

func newLayout(c Cloud) layout {
	l := layout{c: c.sorted(), barX: map[string]int{}, colour: map[string]string{}}
	tenant := 0
	for i, n := range l.c.Networks {
		l.barX[n.ID] = firstBar + i*barGap
		if n.External {
			l.colour[n.ID] = externalColour
		} else {
			l.colour[n.ID] = palette[tenant%len(palette)]
			tenant++
		}
	}
	l.rows = max(len(l.c.Routers)+len(l.c.Instances), 1)
	l.w = firstBar + max(len(l.c.Networks), 1)*barGap
	l.h = headerH + l.rows*rowH + margin
	return l
}

func esc(s string) string { return html.EscapeString(s) }

// short cuts a label to n runes (the full text is in the element's
// tooltip).
func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// SVG renders the cloud as a standalone SVG document.
func SVG(c Cloud) string {
	l := newLayout(c)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		l.w, l.h, l.w, l.h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", l.w, l.h)
	if len(l.c.Networks) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#777">no networks visible to these credentials</text>`+"\n", margin, headerH/2)
	}
	for _, n := range l.c.Networks {
		l.network(&b, n)
	}
	row := 0
	for _, r := range l.c.Routers {
		kind := "router"
		if r.Distributed {
			kind = "router (distributed)"
		}
		l.node(&b, row, "router", r.ID, r.Name, kind+" "+r.Status, "#337ab7", r.Links)
		row++
	}
	for _, in := range l.c.Instances {
		l.node(&b, row, "instance", in.ID, in.Name, "instance", "#5cb85c", in.Links)
		row++
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// network draws a network's bar with its name and subnets above it.
func (l layout) network(b *strings.Builder, n Network) {
	x, col := l.barX[n.ID], l.colour[n.ID]
	var cidrs []string
	for _, s := range n.Subnets {
		cidrs = append(cidrs, s.CIDR)
	}
	tip := fmt.Sprintf("network %s\nid %s\nsubnets %s", n.Name, n.ID, strings.Join(cidrs, ", "))
	if n.External {
		tip += "\nexternal"
	}
	if n.Shared {
		tip += "\nshared"
	}
	fmt.Fprintf(b, `<g class="network" id="network-%s"><title>%s</title>`, esc(n.ID), esc(tip))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" rx="4" fill="%s"/>`, x, headerH-10, barW, l.rows*rowH+10, col)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold" fill="%s">%s</text>`, x-4, 22, col, esc(short(cmpOr(n.Name, n.ID), 22)))
	for i, c := range cidrs[:min(len(cidrs), 2)] {
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#555">%s</text>`, x-4, 38+i*14, esc(c))
	}
	b.WriteString("</g>\n")
}

// node draws a router or an instance and its links to networks.
func (l layout) node(b *strings.Builder, row int, class, id, name, kind, col string, links []Attachment) {
	y := headerH + row*rowH
	mid := y + nodeH/2
	tip := fmt.Sprintf("%s %s\nid %s", kind, name, id)
	fmt.Fprintf(b, `<g class="%s" id="%s-%s"><title>%s</title>`, class, class, esc(id), esc(tip))
	last := 0
	for _, a := range links {
		if x, ok := l.barX[a.NetworkID]; ok {
			last = max(last, x)
		}
	}
	if last > 0 {
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-width="2"/>`, margin+nodeW, mid, last+barW/2, mid)
	}
	for _, a := range links {
		x, ok := l.barX[a.NetworkID]
		if !ok {
			continue // a network these credentials cannot see
		}
		fmt.Fprintf(b, `<circle cx="%d" cy="%d" r="5" fill="%s" stroke="#333"/>`, x+barW/2, mid, l.colour[a.NetworkID])
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#333">%s</text>`, x+barW+4, mid-6, esc(short(strings.Join(a.IPs, ", "), 24)))
		if len(a.Floating) > 0 {
			// The floating IP under the fixed address it maps to.
			fmt.Fprintf(b, `<text x="%d" y="%d" fill="%s">⇄ %s</text>`, x+barW+4, mid+16, externalColour, esc(short(strings.Join(a.Floating, ", "), 22)))
		}
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" rx="6" fill="%s"/>`, margin, y, nodeW, nodeH, col)
	fmt.Fprintf(b, `<text x="%d" y="%d" fill="#fff" font-weight="bold">%s</text>`, margin+8, y+17, esc(short(cmpOr(name, id), 24)))
	fmt.Fprintf(b, `<text x="%d" y="%d" fill="#fff" font-size="10">%s</text>`, margin+8, y+32, esc(short(kind, 30)))
	b.WriteString("</g>\n")
}
