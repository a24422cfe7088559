package probe

import (
	"fmt"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// NFTDump renders a namespace's nftables ruleset for failure reports
// (this machine has no nft(8)): every table, chain (hook, priority) and
// rule, a rule as its expressions in Go syntax. Not meant to be parsed.
func NFTDump(ns string) string {
	f, err := os.Open(Path(ns))
	if err != nil {
		return fmt.Sprintf("(open %s: %v)\n", ns, err)
	}
	defer f.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		return fmt.Sprintf("(nftables: %v)\n", err)
	}
	tables, err := c.ListTables()
	if err != nil {
		return fmt.Sprintf("(list tables: %v)\n", err)
	}
	chains, err := c.ListChains()
	if err != nil {
		return fmt.Sprintf("(list chains: %v)\n", err)
	}
	var b strings.Builder
	for _, t := range tables {
		fmt.Fprintf(&b, "table %s %s\n", family(t.Family), t.Name)
		for _, ch := range chains {
			if ch.Table.Name != t.Name || ch.Table.Family != t.Family {
				continue
			}
			fmt.Fprintf(&b, "  chain %s", ch.Name)
			if ch.Hooknum != nil && ch.Priority != nil {
				fmt.Fprintf(&b, " (hook %d priority %d)", *ch.Hooknum, *ch.Priority)
			}
			b.WriteString("\n")
			rules, err := c.GetRules(t, ch)
			if err != nil {
				fmt.Fprintf(&b, "    (rules: %v)\n", err)
				continue
			}
			for _, r := range rules {
				fmt.Fprintf(&b, "    %s\n", ruleString(r.Exprs))
			}
		}
		writeSets(&b, c, t)
	}
	return b.String()
}

// writeSets renders a table's sets and maps with their elements (keys
// as bytes; a map's verdicts by chain name).
func writeSets(b *strings.Builder, c *nftables.Conn, t *nftables.Table) {
	sets, err := c.GetSets(t)
	if err != nil {
		fmt.Fprintf(b, "  (sets: %v)\n", err)
		return
	}
	for _, s := range sets {
		els, err := c.GetSetElements(s)
		if err != nil {
			fmt.Fprintf(b, "  set %s (elements: %v)\n", s.Name, err)
			continue
		}
		var es []string
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
		fmt.Fprintf(b, "  set %s { %s }\n", s.Name, strings.Join(es, ", "))
	}
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
