package trace

import (
	"fmt"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// bridgePrerouting runs the host's bridge-family prerouting chains on
// the frame that entered by in (security groups' anti-spoofing and port
// marks), before the FDB lookup as the kernel does. A drop ends the walk.
func (t *walker) bridgePrerouting(h *desired.Host, host, br, in string) (*nfState, bool) {
	st := &nfState{host: host, where: br, iif: in}
	if d, ok := t.runHook(hooked(h.Nft, "prerouting", desired.FamilyBridge), st); !ok {
		t.drop(host, br, "%s", t.explain(d, in, ""))
		return nil, false
	}
	if t.isFiltered(h, in) {
		t.hop(host, br, "anti-spoofing of %s: source %s %s is the port's", in, t.p.srcMAC, t.p.src)
	}
	return st, true
}

// bridgeForward runs the forward chains for the frame going out by out:
// the bridge-family ones (DVR's MAC rewrite, port dispatch) and, as
// br_netfilter hands bridged IP packets on, the inet ones (the security
// groups' rules). A drop ends the walk, naming the rule.
func (t *walker) bridgeForward(h *desired.Host, st *nfState, in, out string) bool {
	st.oif = out
	chains := append(hooked(h.Nft, "forward", desired.FamilyBridge), hooked(h.Nft, "forward", desired.FamilyINet)...)
	slices.SortStableFunc(chains, func(a, b baseChain) int { return a.c.Priority - b.c.Priority })
	for _, bc := range chains {
		var d decision
		t.runChain(bc.tb, bc.c.Name, st, &d, 0)
		if d.verdict == "drop" {
			t.drop(st.host, st.where, "%s", t.explain(d, in, out))
			return false
		}
		if d.verdict == "accept" && len(d.jumped) > 0 {
			t.hop(st.host, st.where, "security groups: accepted by %q in chain %s", d.rule.String(), d.chain)
		}
	}
	return true
}

// isFiltered reports whether dev has an anti-spoofing chain.
func (t *walker) isFiltered(h *desired.Host, dev string) bool {
	for _, tb := range h.Nft {
		for _, c := range tb.Chains {
			if c.Name == "src-"+dev {
				return true
			}
		}
	}
	return false
}

// explain names a drop: the rule and its chain, and for a port's
// security-group chain, the groups that were asked and the rule that
// would admit the packet.
func (t *walker) explain(d decision, in, out string) string {
	s := ruleText(d)
	if d.rule.Comment != "" && strings.Contains(d.rule.Comment, "spoof") {
		return s + fmt.Sprintf(" (anti-spoofing of %s: %s %s is not one of the port's MAC and addresses)", in, t.p.srcMAC, t.p.src)
	}
	var groups []string
	for _, c := range d.jumped {
		if g, ok := strings.CutPrefix(c, "sg-"); ok {
			g = strings.TrimSuffix(strings.TrimSuffix(g, "-in"), "-eg")
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 && !strings.HasPrefix(d.chain, "in-") && !strings.HasPrefix(d.chain, "eg-") {
		return s
	}
	dir, port, peer := "ingress", out, "from "+t.p.src.String()+"/32"
	if strings.HasPrefix(d.chain, "eg-") {
		dir, port, peer = "egress", in, "to "+t.p.dst.String()+"/32"
	}
	want := t.p.proto
	if t.p.dport != 0 {
		want += fmt.Sprintf(" port %d", t.p.dport)
	}
	return s + fmt.Sprintf(" (no rule of %s's groups [%s] admits it; a rule that would: %s %s %s)",
		port, strings.Join(groups, ", "), dir, want, peer)
}
