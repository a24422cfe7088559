package traceprobe

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/trace"
)

// internetNet is the sandbox's network behind the upstream router.
var internetNet = netip.MustParsePrefix("198.51.100.0/24")

// Report is a probe's outcome beside the trace's.
type Report struct {
	Text   string // what to print: where it was sent from, where it arrived, the verdict
	Agrees bool
}

// Check sends the traced packet for real in the sandbox st (from the
// instance of port, or for port nil from the upstream or internet node
// by the source address), watching every instance and the upstream and
// internet nodes, and compares where it arrived with the trace's fate.
func Check(st *sandbox.State, port *trace.Port, p trace.Packet, res trace.Result) (Report, error) {
	prefix := st.Prefix
	instances, err := st.Instances()
	if err != nil {
		return Report{}, err
	}
	src := p.Src
	var srcNS string
	var places []Place
	for _, in := range instances {
		if port != nil && in.PortID == port.ID {
			srcNS = in.Netns
			if !src.IsValid() {
				src = port.Addr.Addr()
			}
			continue
		}
		places = append(places, Place{Name: "port " + in.PortID, NS: in.Netns, Dev: "eth0"})
	}
	for _, node := range []string{"upstream", "internet"} {
		pl := Place{Name: node, NS: sandbox.NodeNS(prefix, node), Dev: "eth0"}
		if port == nil && (node == "internet") == internetNet.Contains(src) {
			srcNS = pl.NS
			continue
		}
		places = append(places, pl)
	}
	if srcNS == "" {
		return Report{}, fmt.Errorf("no sandbox instance or node sends from %s", src)
	}
	places = append(places, Place{Name: sourcePlace, NS: srcNS, Dev: "eth0", Outgoing: true})
	pkt := Packet{Src: src, Dst: p.Dst, Proto: p.Proto, Port: p.Port, Marker: NewMarker()}
	got, err := Probe(srcNS, pkt, places, 2*time.Second)
	if err != nil {
		return Report{}, err
	}
	want := expectedPlace(res, p.Dst)
	var seen []string
	left := false
	for _, a := range got {
		if a.Place == sourcePlace {
			left = true
			continue
		}
		seen = append(seen, fmt.Sprintf("%s (%s > %s)", a.Place, a.Src, a.Dst))
	}
	if !left {
		return Report{}, fmt.Errorf("the probe was not seen leaving %s", srcNS)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "probe: sent from %s (seen leaving its eth0); arrived at: %s\n", srcNS, cmpOr(strings.Join(seen, ", "), "nowhere"))
	ok := agrees(want, got)
	verdict := "agrees with the trace"
	if !ok {
		verdict = "DISAGREES with the trace"
	}
	fmt.Fprintf(&b, "probe: %s (expected: %s)\n", verdict, cmpOr(want, "nowhere"))
	return Report{Text: b.String(), Agrees: ok}, nil
}

// sourcePlace names the source's own interface, where the probe must be
// seen leaving (so that "arrived nowhere" means dropped, not unsent).
const sourcePlace = "source"

// expectedPlace is where the trace says the packet ends up, as a probe
// place name: "" for a drop, "-" for what the probe does not watch (a
// router namespace's own address).
func expectedPlace(res trace.Result, dst netip.Addr) string {
	switch {
	case !res.Delivered:
		return ""
	case res.Port != "":
		return "port " + res.Port
	case res.Host == "" && internetNet.Contains(dst):
		return "internet"
	case res.Host == "":
		return "upstream"
	}
	return "-"
}

// agrees: a drop arrives nowhere; a delivery arrives at its place and
// at no instance port other than it.
func agrees(want string, got []Arrival) bool {
	switch want {
	case "":
		return !slices.ContainsFunc(got, func(a Arrival) bool { return a.Place != sourcePlace })
	case "-":
		return true
	}
	if !slices.ContainsFunc(got, func(a Arrival) bool { return a.Place == want }) {
		return false
	}
	return !slices.ContainsFunc(got, func(a Arrival) bool {
		return strings.HasPrefix(a.Place, "port ") && a.Place != want
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
