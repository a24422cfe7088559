package topology

import (
	"fmt"
	"strings"
)

// HTML renders the cloud as one self-contained page: the SVG inline and
// tables of what it shows. It loads nothing (no scripts, styles, fonts
// or images from elsewhere), so it can be mailed or attached to a
// ticket as is.
func HTML(c Cloud) string {
	c = c.sorted()
	names := map[string]string{}
	for _, n := range c.Networks {
		names[n.ID] = cmpOr(n.Name, n.ID)
	}
	netName := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		return id + " (not visible)"
	}
	var b strings.Builder
	title := "Neutrino topology"
	if c.Scope != "" {
		title += " — " + c.Scope
	}
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n", esc(title))
	b.WriteString(`<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; font-size: 0.9em; }
th { background: #f3f3f3; }
.diagram { overflow-x: auto; border: 1px solid #ddd; }
code { font-size: 0.85em; color: #555; }
</style>
</head>
<body>
`)
	fmt.Fprintf(&b, "<h1>%s</h1>\n", esc(title))
	fmt.Fprintf(&b, "<p>%d networks, %d routers, %d instances, %d floating IPs as the Networking API shows them to these credentials.</p>\n",
		len(c.Networks), len(c.Routers), len(c.Instances), len(c.FloatingIPs))
	fmt.Fprintf(&b, "<div class=\"diagram\">\n%s</div>\n", SVG(c))

	table(&b, "Networks", []string{"name", "subnets", "attributes", "id"}, len(c.Networks), func(i int) []string {
		n := c.Networks[i]
		var subs, attrs []string
		for _, s := range n.Subnets {
			subs = append(subs, strings.TrimSpace(s.CIDR+" "+gw(s.Gateway)))
		}
		if n.External {
			attrs = append(attrs, "external")
		}
		if n.Shared {
			attrs = append(attrs, "shared")
		}
		return []string{n.Name, strings.Join(subs, "; "), strings.Join(append(attrs, n.Status), ", "), n.ID}
	})
	table(&b, "Routers", []string{"name", "status", "links", "id"}, len(c.Routers), func(i int) []string {
		r := c.Routers[i]
		status := r.Status
		if r.Distributed {
			status += ", distributed"
		}
		return []string{r.Name, status, links(r.Links, netName), r.ID}
	})
	table(&b, "Instances", []string{"name", "addresses", "id"}, len(c.Instances), func(i int) []string {
		in := c.Instances[i]
		return []string{in.Name, links(in.Links, netName), in.ID}
	})
	table(&b, "Floating IPs", []string{"address", "network", "fixed address", "status", "id"}, len(c.FloatingIPs), func(i int) []string {
		f := c.FloatingIPs[i]
		return []string{f.Address, netName(f.NetworkID), f.FixedIP, f.Status, f.ID}
	})
	b.WriteString("</body>\n</html>\n")
	return b.String()
}

func gw(ip string) string {
	if ip == "" {
		return ""
	}
	return "(gateway " + ip + ")"
}

func links(as []Attachment, netName func(string) string) string {
	var out []string
	for _, a := range as {
		s := netName(a.NetworkID) + ": " + strings.Join(a.IPs, ", ")
		if len(a.Floating) > 0 {
			s += " ⇄ " + strings.Join(a.Floating, ", ")
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

// table writes a titled table of n rows (escaped cells); none if n = 0.
func table(b *strings.Builder, title string, head []string, n int, row func(int) []string) {
	if n == 0 {
		return
	}
	fmt.Fprintf(b, "<h2>%s</h2>\n<table>\n<tr>", esc(title))
	for _, h := range head {
		fmt.Fprintf(b, "<th>%s</th>", esc(h))
	}
	b.WriteString("</tr>\n")
	for i := range n {
		b.WriteString("<tr>")
		for j, cell := range row(i) {
			if j == len(head)-1 {
				fmt.Fprintf(b, "<td><code>%s</code></td>", esc(cell))
			} else {
				fmt.Fprintf(b, "<td>%s</td>", esc(cell))
			}
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
}
