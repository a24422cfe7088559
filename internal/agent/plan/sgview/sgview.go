// Package sgview renders, for `neutrino-agent plan`, each instance
// port's security group filter in readable form: its groups, its
// anti-spoofing addresses, and the rules that apply to it. The rules are
// read from the planned nftables tables themselves (following the
// port's verdict map entries and jumps, with the members of the remote
// group sets they use), not recomputed, so that what is shown is what
// the agent applies. Pure: no kernel access.
package sgview

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// Table is the name of the security group tables (both families).
const Table = "neutrino-sg"

// maxDepth bounds how deep jumps are followed (port chain -> group
// chain today; a loop in bad input must not hang the command).
const maxDepth = 4

// view is the planned tables of one host, indexed.
type view struct {
	s      *hostmodel.Snapshot
	br, in *desired.NftTable
}

// Render writes one section per instance port of the host (h's bridge
// ports that carry a port), in port id order.
func Render(s *hostmodel.Snapshot, h *desired.Host) string {
	v := view{s: s}
	for i := range h.Nft {
		t := &h.Nft[i]
		if t.Name != Table {
			continue
		}
		switch t.Family {
		case desired.FamilyBridge:
			v.br = t
		case desired.FamilyINet:
			v.in = t
		}
	}
	bps := slices.Clone(h.BridgePorts)
	slices.SortFunc(bps, func(a, b desired.BridgePort) int { return strings.Compare(a.PortID, b.PortID) })
	var b strings.Builder
	for _, bp := range bps {
		if bp.PortID != "" {
			v.port(&b, bp)
		}
	}
	if b.Len() == 0 {
		return "(no instance ports on this host)\n"
	}
	return b.String()
}

// port writes one port's section.
func (v view) port(b *strings.Builder, bp desired.BridgePort) {
	p := v.s.Ports[bp.PortID]
	fmt.Fprintf(b, "port %s", bp.PortID)
	if p != nil && p.Name != "" {
		fmt.Fprintf(b, " (%s)", p.Name)
	}
	fmt.Fprintf(b, " tap %s bridge %s\n", bp.Name, bp.Bridge)
	src := v.entry(v.br, bp.Name)
	if src == "" {
		fmt.Fprintf(b, "  not filtered: %s\n\n", v.whyNot(p))
		return
	}
	if p != nil {
		fmt.Fprintf(b, "  groups: %s\n", v.groups(p))
		fmt.Fprintf(b, "  anti-spoofing: %s\n", antiSpoofing(p))
	}
	fmt.Fprintf(b, "  frames from the instance (%s):\n", src)
	v.chain(b, v.br, src, 2)
	egMark, inMark := v.marks(src, v.entry(v.br, bp.Name, "dst"))
	for _, d := range []struct {
		what string
		mark uint32
	}{{"egress", egMark}, {"ingress", inMark}} {
		name := v.markEntry(d.mark)
		if name == "" {
			fmt.Fprintf(b, "  %s: no chain in the planned tables\n", d.what)
			continue
		}
		fmt.Fprintf(b, "  %s (%s):\n", d.what, name)
		v.chain(b, v.in, name, 2)
	}
	b.WriteString("\n")
}

// whyNot says why a port has no filter.
func (v view) whyNot(p *model.Port) string {
	switch {
	case p == nil:
		return "not in the agent's view"
	case strings.HasPrefix(p.DeviceOwner, "network:"):
		return p.DeviceOwner + " ports are trusted"
	case !p.PortSecurityEnabled:
		return "port security is off"
	default:
		return "security groups are off on this host (enable_security_group = False)"
	}
}

// groups lists a port's groups by name and id.
func (v view) groups(p *model.Port) string {
	if len(p.SecurityGroups) == 0 {
		return "none (everything but the built-in allowances is dropped)"
	}
	var out []string
	for _, id := range p.SecurityGroups {
		sg := v.s.SGs[id]
		switch {
		case sg == nil:
			out = append(out, id+" (not in the view: allows nothing)")
		case sg.Stateful:
			out = append(out, fmt.Sprintf("%s (%s)", sg.Name, id))
		default:
			out = append(out, fmt.Sprintf("%s (%s, stateless)", sg.Name, id))
		}
	}
	return strings.Join(out, ", ")
}

// antiSpoofing lists what the instance may send from.
func antiSpoofing(p *model.Port) string {
	var ips []string
	for _, f := range p.FixedIPs {
		ips = append(ips, f.IPAddress)
	}
	out := fmt.Sprintf("mac %s, addresses %s", strings.ToLower(p.MACAddress), strings.Join(ips, " "))
	var pairs []string
	for _, ap := range p.AllowedAddressPairs {
		s := ap.IPAddress
		if ap.MACAddress != "" {
			s += " mac " + strings.ToLower(ap.MACAddress)
		}
		pairs = append(pairs, s)
	}
	if len(pairs) > 0 {
		out += ", allowed address pairs " + strings.Join(pairs, ", ")
	}
	return out
}

// entry returns the chain a verdict map of t (an ifname map: src_ports,
// or with kind "dst" dst_ports) sends the tap to, "" if none.
func (v view) entry(t *desired.NftTable, tap string, kind ...string) string {
	if t == nil {
		return ""
	}
	for _, m := range t.Maps {
		if len(kind) > 0 && !strings.HasPrefix(m.Name, kind[0]) {
			continue
		}
		if len(kind) == 0 && strings.HasPrefix(m.Name, "dst") {
			continue
		}
		if verdict, ok := m.Verdicts[tap]; ok {
			return target(verdict)
		}
	}
	return ""
}

// target is the chain of a "jump x" / "goto x" verdict.
func target(verdict string) string {
	f := strings.Fields(verdict)
	if len(f) == 2 && (f[0] == "jump" || f[0] == "goto") {
		return f[1]
	}
	return ""
}

// marks reads the port's mark halves off its bridge chains: the value
// the source chain sets and the one the destination chain ors in.
func (v view) marks(src, dst string) (eg, in uint32) {
	for _, r := range v.find(v.br, src).Rules {
		if r.SetMarkOp == "set" && r.SetMark != 0 {
			eg = r.SetMark
		}
	}
	for _, r := range v.find(v.br, dst).Rules {
		if r.SetMarkOp == "or" {
			in = r.SetMark
		}
	}
	return eg, in
}

// markEntry returns the chain an inet verdict map keyed by mark sends
// mark to.
func (v view) markEntry(mark uint32) string {
	if v.in == nil || mark == 0 {
		return ""
	}
	for _, m := range v.in.Maps {
		for k, verdict := range m.Verdicts {
			if n, err := strconv.ParseUint(k, 0, 32); err == nil && uint32(n) == mark {
				return target(verdict)
			}
		}
	}
	return ""
}

// find returns a chain of t by name (an empty chain if missing).
func (v view) find(t *desired.NftTable, name string) desired.NftChain {
	c, _ := v.lookup(t, name)
	return c
}

// lookup returns a chain of t by name and whether it is there.
func (v view) lookup(t *desired.NftTable, name string) (desired.NftChain, bool) {
	if t != nil {
		for _, c := range t.Chains {
			if c.Name == name {
				return c, true
			}
		}
	}
	return desired.NftChain{Name: name}, false
}
