package probe

import (
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/neutrino-net/neutrino/internal/dataplane/nft"
	"github.com/neutrino-net/neutrino/internal/netns"
)

// NFTDump renders a namespace's nftables ruleset for failure reports
// (this machine has no nft(8)): every table, chain (hook, priority) and
// rule, a rule as its expressions in Go syntax. Not meant to be parsed.
//
// The ruleset is read as the agent reads its own (nft.ReadConsistent):
// again if a commit moved the generation during the read, or if a set
// was resized while it was dumped (some of its elements twice, others
// missing), so a report never shows a torn set as the kernel's content.
// If the read stays torn, the last one is shown with the reason.
func NFTDump(ns string) string {
	h, err := netns.Open(ns)
	if err != nil {
		return fmt.Sprintf("(open %s: %v)\n", ns, err)
	}
	defer h.Close()
	var last string
	_, err = nft.ReadConsistent(h, func(c *nftables.Conn) (string, error) {
		var b strings.Builder
		err := dumpOnce(&b, c)
		last = b.String()
		return last, err
	})
	if err != nil {
		last += fmt.Sprintf("(nftables: %v)\n", err)
	}
	return last
}

// dumpOnce renders the ruleset from one read. Errors of a listing are
// rendered in place (the rest of a report is still worth having); a torn
// set dump is returned, for the read to be done again.
func dumpOnce(b *strings.Builder, c *nftables.Conn) error {
	tables, err := c.ListTables()
	if err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	chains, err := c.ListChains()
	if err != nil {
		return fmt.Errorf("list chains: %w", err)
	}
	for _, t := range tables {
		fmt.Fprintf(b, "table %s %s\n", family(t.Family), t.Name)
		for _, ch := range chains {
			if ch.Table.Name != t.Name || ch.Table.Family != t.Family {
				continue
			}
			fmt.Fprintf(b, "  chain %s", ch.Name)
			if ch.Hooknum != nil && ch.Priority != nil {
				fmt.Fprintf(b, " (hook %d priority %d)", *ch.Hooknum, *ch.Priority)
			}
			b.WriteString("\n")
			rules, err := c.GetRules(t, ch)
			if err != nil {
				fmt.Fprintf(b, "    (rules: %v)\n", err)
				continue
			}
			for _, r := range rules {
				fmt.Fprintf(b, "    %s\n", ruleString(r.Exprs))
			}
		}
		if err := writeSets(b, c, t); err != nil {
			return err
		}
	}
	return nil
}

// writeSets renders a table's sets and maps with their elements; an
// error only for a torn element dump.
func writeSets(b *strings.Builder, c *nftables.Conn, t *nftables.Table) error {
	sets, err := c.GetSets(t)
	if err != nil {
		fmt.Fprintf(b, "  (sets: %v)\n", err)
		return nil
	}
	for _, s := range sets {
		els, err := c.GetSetElements(s)
		if err != nil {
			fmt.Fprintf(b, "  set %s (elements: %v)\n", s.Name, err)
			continue
		}
		line, err := setLine(s.Name, els)
		if err != nil {
			return err
		}
		b.WriteString(line)
	}
	return nil
}

// setLine renders one set's elements (keys as bytes; a map's verdicts
// by chain name), or nft.ErrTornDump if the dump holds one twice.
func setLine(name string, els []nftables.SetElement) (string, error) {
	if err := nft.CheckElements(els); err != nil {
		return "", fmt.Errorf("set %s: %w", name, err)
	}
	es := make([]string, 0, len(els))
	for _, e := range els {
		v := fmt.Sprint(e.Key)
		if e.IntervalEnd {
			v = "end " + v
		}
		if e.VerdictData != nil {
			v += " : " + e.VerdictData.Chain
		}
		es = append(es, v)
	}
	return fmt.Sprintf("  set %s { %s }\n", name, strings.Join(es, ", ")), nil
}

func family(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyARP:
		return "arp"
	}
	return fmt.Sprint(int(f))
}

func ruleString(es []expr.Any) string {
	parts := make([]string, 0, len(es))
	for _, e := range es {
		s := fmt.Sprintf("%T%+v", e, e)
		parts = append(parts, strings.TrimPrefix(s, "*expr."))
	}
	return strings.Join(parts, " ")
}
