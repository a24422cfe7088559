package conformance

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// Result is the outcome of a tempest run, per test.
type Result struct {
	Passed  []string
	Failed  []string
	Skipped []Skip
	// Workspace is where tempest ran (its trace.txt and tempest.log).
	Workspace string
}

// Skip is a skipped test (or class, for a skipped setUpClass) and why.
type Skip struct {
	ID, Reason string
}

func (r *Result) Total() int { return len(r.Passed) + len(r.Failed) + len(r.Skipped) }

// traceLine matches subunit-trace's per-test lines, e.g.
//
//	{0} tempest.api.network.test_networks.NetworksTest.test_list_networks [0.123s] ... ok
//	{1} setUpClass (neutron_tempest_plugin.api.test_trunk.TrunkTestJSON) ... SKIPPED: trunk extension not enabled.
var traceLine = regexp.MustCompile(`^\{\d+\} (.+?)(?: \[[0-9.]+s\])? \.\.\. (ok|FAILED|SKIPPED(?::\s*(.*))?)\s*$`)

// classSetup matches setUpClass (module.Class) ids.
var classSetup = regexp.MustCompile(`^(?:setUpClass|tearDownClass) \((.+)\)$`)

// ParseTrace reads tempest run's output.
func ParseTrace(rd io.Reader) (*Result, error) {
	res := &Result{}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := traceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		id := stripAttrs(m[1])
		if c := classSetup.FindStringSubmatch(id); c != nil {
			id = c[1]
		}
		switch {
		case m[2] == "ok":
			res.Passed = append(res.Passed, id)
		case m[2] == "FAILED":
			res.Failed = append(res.Failed, id)
		default:
			res.Skipped = append(res.Skipped, Skip{ID: id, Reason: strings.TrimSpace(m[3])})
		}
	}
	sort.Strings(res.Passed)
	sort.Strings(res.Failed)
	sort.Slice(res.Skipped, func(i, j int) bool { return res.Skipped[i].ID < res.Skipped[j].ID })
	return res, sc.Err()
}

// stripAttrs drops the "[id-...,smoke]" attributes of a test id.
func stripAttrs(id string) string {
	if i := strings.IndexByte(id, '['); i > 0 && strings.HasSuffix(id, "]") {
		return id[:i]
	}
	return id
}

// Counts returns pass/fail/skip counts of the tests whose id starts with
// prefix ("" for all).
func (r *Result) Counts(prefix string) (pass, fail, skip int) {
	for _, id := range r.Passed {
		if strings.HasPrefix(id, prefix) {
			pass++
		}
	}
	for _, id := range r.Failed {
		if strings.HasPrefix(id, prefix) {
			fail++
		}
	}
	for _, s := range r.Skipped {
		if strings.HasPrefix(s.ID, prefix) {
			skip++
		}
	}
	return pass, fail, skip
}

// WriteSummary prints the counts per suite, the failing test ids and the
// skips grouped by reason.
func (r *Result) WriteSummary(w io.Writer) {
	for _, s := range Suites {
		p, f, k := r.Counts(s + ".")
		fmt.Fprintf(w, "%-28s %4d passed, %4d failed, %4d skipped\n", s, p, f, k)
	}
	if len(r.Failed) > 0 {
		fmt.Fprintf(w, "\nfailed (%d):\n", len(r.Failed))
		for _, id := range r.Failed {
			fmt.Fprintln(w, "  "+id)
		}
	}
	if len(r.Skipped) > 0 {
		byReason := map[string][]string{}
		for _, s := range r.Skipped {
			byReason[s.Reason] = append(byReason[s.Reason], s.ID)
		}
		reasons := make([]string, 0, len(byReason))
		for k := range byReason {
			reasons = append(reasons, k)
		}
		sort.Strings(reasons)
		fmt.Fprintf(w, "\nskipped (%d), by reason:\n", len(r.Skipped))
		for _, reason := range reasons {
			fmt.Fprintf(w, "  %s (%d)\n", reason, len(byReason[reason]))
			for _, id := range byReason[reason] {
				fmt.Fprintln(w, "    "+id)
			}
		}
	}
	p, f, k := r.Counts("")
	fmt.Fprintf(w, "\n%d passed, %d failed, %d skipped\n", p, f, k)
}
