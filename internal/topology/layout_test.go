package topology

import (
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// bigCloud has 200 ports: 8 networks, 12 routers attached to several of
// them, 170 instances, every name and address as long as the labels
// allow, and floating IPs on a third of the instances.
func bigCloud() Cloud {
	var c Cloud
	for i := range 8 {
		c.Networks = append(c.Networks, Network{ID: fmt.Sprintf("n%d", i), Name: fmt.Sprintf("a-rather-long-network-name-%d", i),
			External: i == 0, Subnets: []Subnet{{CIDR: fmt.Sprintf("10.%d.0.0/16", 100+i)}, {CIDR: fmt.Sprintf("172.16.%d.0/24", 100+i)}}})
	}
	ports := 0
	for i := range 12 {
		r := Router{ID: fmt.Sprintf("r%d", i), Name: fmt.Sprintf("router-with-a-long-name-%d", i), Status: "ACTIVE", Distributed: i%2 == 0}
		for j := i % 3; j < 8; j += 3 {
			r.Links = append(r.Links, Attachment{NetworkID: fmt.Sprintf("n%d", j), IPs: []string{fmt.Sprintf("10.%d.255.%d", 100+j, 200+i), "10.1.2.3"}})
			ports++
		}
		c.Routers = append(c.Routers, r)
	}
	for i := 0; ports < 200; i++ {
		a := Attachment{NetworkID: fmt.Sprintf("n%d", 1+i%7), IPs: []string{fmt.Sprintf("10.%d.%d.%d", 101+i%7, i/250, 100+i%150)}}
		if i%3 == 0 {
			a.Floating = []string{fmt.Sprintf("203.0.113.%d", 100+i%150), "198.51.100.200"}
		}
		c.Instances = append(c.Instances, Instance{ID: fmt.Sprintf("vm%d", i), Name: fmt.Sprintf("instance-with-long-name-%03d", i), Links: []Attachment{a}})
		ports++
	}
	return c
}

type box struct {
	text           string
	x0, y0, x1, y1 float64
}

var textRE = regexp.MustCompile(`<text x="(\d+)" y="(\d+)"([^>]*)>([^<]*)</text>`)

// labelBoxes estimates each text element's box: a sans-serif glyph is at
// most 0.62 em wide on average for these labels (digits, dots, lower
// case), the box spans from the cap height to below the baseline.
func labelBoxes(svg string) []box {
	var bs []box
	for _, m := range textRE.FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.ParseFloat(m[1], 64)
		y, _ := strconv.ParseFloat(m[2], 64)
		size := 12.0
		if strings.Contains(m[3], `font-size="10"`) {
			size = 10
		}
		t := html.UnescapeString(m[4])
		w := float64(utf8.RuneCountInString(t)) * 0.62 * size
		bs = append(bs, box{t, x, y - 0.8*size, x + w, y + 0.25*size})
	}
	return bs
}

// TestLayoutLabelsDoNotOverlap draws 200 ports and checks that no two
// labels' boxes intersect.
func TestLayoutLabelsDoNotOverlap(t *testing.T) {
	bs := labelBoxes(SVG(bigCloud()))
	if len(bs) < 400 {
		t.Fatalf("only %d labels", len(bs))
	}
	bad := 0
	for i := range bs {
		for j := i + 1; j < len(bs); j++ {
			a, b := bs[i], bs[j]
			if a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 {
				if bad++; bad <= 5 {
					t.Errorf("%q at (%.0f,%.0f) overlaps %q at (%.0f,%.0f)", a.text, a.x0, a.y1, b.text, b.x0, b.y1)
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d overlapping label pairs", bad)
	}
}
