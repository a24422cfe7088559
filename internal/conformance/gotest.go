package conformance

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// GoTestResult is the outcome of a go test -json run, per top-level test
// (subtests are part of their test), named "package.TestName" with the
// package relative to the networking acceptance tests.
type GoTestResult struct {
	Passed  []string
	Failed  []GoTestFailure
	Skipped []Skip
}

// GoTestFailure is a failed test (or a package that did not build) and
// the lines it logged.
type GoTestFailure struct {
	ID     string
	Output []string
}

func (r *GoTestResult) Total() int { return len(r.Passed) + len(r.Failed) + len(r.Skipped) }

type goTestEvent struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// shortPackage names a gophercloud acceptance package by its path under
// networking/v2 ("v2" for the top one).
func shortPackage(p string) string {
	const base = "internal/acceptance/openstack/networking/v2"
	if i := strings.Index(p, base); i >= 0 {
		rest := strings.TrimPrefix(p[i+len(base):], "/")
		if rest == "" {
			return "v2"
		}
		return rest
	}
	return p
}

// ParseGoTest reads go test -json output.
func ParseGoTest(rd io.Reader) (*GoTestResult, error) {
	res := &GoTestResult{}
	logs := map[string][]string{} // test id -> its output lines
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var e goTestEvent
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue // a build error line, not an event
		}
		top, _, sub := strings.Cut(e.Test, "/")
		id := shortPackage(e.Package) + "." + top
		if e.Test == "" {
			id = shortPackage(e.Package)
		}
		switch e.Action {
		case "output":
			if line := strings.TrimRight(e.Output, "\n"); keepLine(line) {
				logs[id] = append(logs[id], strings.TrimSpace(line))
			}
		case "pass", "fail", "skip":
			if sub {
				continue
			}
			if e.Test == "" {
				// A package fails on its own only when it does not
				// build or dies outside a test.
				if e.Action == "fail" && !hasTestOf(res, id) {
					res.Failed = append(res.Failed, GoTestFailure{ID: id, Output: logs[id]})
				}
				continue
			}
			switch e.Action {
			case "pass":
				res.Passed = append(res.Passed, id)
			case "fail":
				res.Failed = append(res.Failed, GoTestFailure{ID: id, Output: logs[id]})
			case "skip":
				res.Skipped = append(res.Skipped, Skip{ID: id, Reason: skipReason(logs[id])})
			}
			delete(logs, id)
		}
	}
	sort.Strings(res.Passed)
	sort.Slice(res.Failed, func(i, j int) bool { return res.Failed[i].ID < res.Failed[j].ID })
	sort.Slice(res.Skipped, func(i, j int) bool { return res.Skipped[i].ID < res.Skipped[j].ID })
	return res, sc.Err()
}

// keepLine drops go test's own framing lines from a test's log.
func keepLine(l string) bool {
	t := strings.TrimSpace(l)
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "--- PASS", "--- SKIP", "PASS", "FAIL", "ok ", "?   "} {
		if strings.HasPrefix(t, p) {
			return false
		}
	}
	return t != ""
}

func hasTestOf(r *GoTestResult, pkg string) bool {
	for _, f := range r.Failed {
		if strings.HasPrefix(f.ID, pkg+".") {
			return true
		}
	}
	return false
}

// skipReason is the last thing a skipped test logged (t.Skip's message)
// without its "file.go:12: " prefix.
func skipReason(lines []string) string {
	if len(lines) == 0 {
		return "(no reason given)"
	}
	l := lines[len(lines)-1]
	if i := strings.Index(l, ".go:"); i >= 0 {
		if j := strings.Index(l[i:], ": "); j >= 0 {
			l = l[i+j+2:]
		}
	}
	return l
}

// WriteSummary prints the counts, each failing test with the last lines it
// logged, and the skips grouped by reason.
func (r *GoTestResult) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "gophercloud networking acceptance: %d passed, %d failed, %d skipped\n",
		len(r.Passed), len(r.Failed), len(r.Skipped))
	if len(r.Failed) > 0 {
		fmt.Fprintf(w, "\nfailed (%d):\n", len(r.Failed))
		for _, f := range r.Failed {
			fmt.Fprintln(w, "  "+f.ID)
			out := f.Output
			if len(out) > 4 {
				out = out[len(out)-4:]
			}
			for _, l := range out {
				fmt.Fprintln(w, "      "+l)
			}
		}
	}
	if len(r.Skipped) > 0 {
		byReason := map[string][]string{}
		var reasons []string
		for _, s := range r.Skipped {
			if byReason[s.Reason] == nil {
				reasons = append(reasons, s.Reason)
			}
			byReason[s.Reason] = append(byReason[s.Reason], s.ID)
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
}
