package vmproto

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseGoTest(t *testing.T) {
	out := `boot noise
=== RUN   TestA
    a_test.go:10: hello
--- PASS: TestA (1.50s)
=== RUN   TestB
=== RUN   TestB/sub
    b_test.go:3: broken
[   12.345678] kernel says something
--- FAIL: TestB (0.20s)
    --- FAIL: TestB/sub (0.10s)
=== RUN   TestC
    c_test.go:1: needs 8021q
--- SKIP: TestC (0.00s)
=== RUN   TestD
panic: test timed out after 1s
FAIL
after`
	var got []string
	for _, r := range ParseGoTest(strings.Split(out, "\n")) {
		got = append(got, fmt.Sprintf("%s %s %s %q", r.Name, r.Status, r.Duration, r.Output))
	}
	want := `TestA PASS 1.5s ["    a_test.go:10: hello"]
TestB FAIL 200ms ["    b_test.go:3: broken" "[   12.345678] kernel says something" "    --- FAIL: TestB/sub (0.10s)"]
TestC SKIP 0s ["    c_test.go:1: needs 8021q"]
TestD  0s ["panic: test timed out after 1s"]`
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("got:\n%s\nwant:\n%s", g, want)
	}
}

func TestSplitSuites(t *testing.T) {
	out := `[    1.0] boot
VMTIER-INIT 1.2
VMTIER-SUITE e2e
=== RUN   TestA
--- PASS: TestA (1.00s)
PASS
VMTIER-SUITE dataplane
=== RUN   TestB
--- SKIP: TestB (0.00s)

VMTIER-EXIT 0
[    9.0] reboot: Power down`
	var got []string
	for _, s := range SplitSuites(strings.Split(out, "\n")) {
		got = append(got, fmt.Sprintf("%s %q", s.Name, s.Lines))
	}
	want := `e2e ["=== RUN   TestA" "--- PASS: TestA (1.00s)" "PASS"]
dataplane ["=== RUN   TestB" "--- SKIP: TestB (0.00s)" ""]`
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("got:\n%s\nwant:\n%s", g, want)
	}
}
