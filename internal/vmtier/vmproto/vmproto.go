// Package vmproto is what the full-kernel test tier's two halves agree
// on: the host-side test (internal/vmtier) writes a Config into the
// initramfs, the VM's init (internal/vmtier/vminit) reads it, runs the
// test binary and prints its `go test -v` output and the markers below
// on the serial console, and the host parses that output back into one
// result per top-level test (ParseGoTest).
package vmproto

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ConfigPath is the run's configuration inside the VM.
const ConfigPath = "/vmtier/config.json"

// BinaryPath is where a suite's test binary is inside the VM.
func BinaryPath(suite string) string { return "/" + suite + ".test" }

// Console markers the init prints, each at the start of its own line.
const (
	// InitMarker is followed by the seconds since the kernel started
	// (/proc/uptime) when init began.
	InitMarker = "VMTIER-INIT"
	// ModulesMarker is followed by the seconds the module preload took
	// and the number of modules loaded.
	ModulesMarker = "VMTIER-MODULES"
	// SuiteMarker is followed by a suite's name: the test binary output
	// up to the next SuiteMarker or the ExitMarker is that suite's.
	SuiteMarker = "VMTIER-SUITE"
	// ExitMarker is followed by the test binaries' exit code (the first
	// that is not 0, or -1 if one could not be run); the VM powers off
	// right after.
	ExitMarker = "VMTIER-EXIT"
)

// Suite is one test binary the init runs: a Go package's tests.
type Suite struct {
	// Name is the package's last element ("e2e", "dataplane"); the
	// binary is BinaryPath(Name).
	Name string
	// Run is the -test.run pattern.
	Run string
}

// Config is the run the init performs.
type Config struct {
	// Suites are run one after the other, in this order.
	Suites []Suite
	// Timeout is each test binary's -test.timeout ("7m").
	Timeout string
	// Preload are the modules loaded (with their dependencies) before the
	// tests start; the rest come on the kernel's demand.
	Preload []string
	// Env is added to the test binary's environment.
	Env []string
	// Args are extra test binary arguments (e.g. -test.short).
	Args []string
}

// SuiteOutput is the console output of one suite's test binary.
type SuiteOutput struct {
	Name  string
	Lines []string
}

// SplitSuites cuts a console log at the SuiteMarker lines into each
// suite's output, in the order they ran; lines before the first marker
// (boot, module loading) and from the ExitMarker on are dropped.
func SplitSuites(lines []string) []SuiteOutput {
	var out []SuiteOutput
	for _, line := range lines {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == SuiteMarker:
			out = append(out, SuiteOutput{Name: f[1]})
		case len(f) == 2 && f[0] == ExitMarker:
			return out
		case len(out) > 0:
			out[len(out)-1].Lines = append(out[len(out)-1].Lines, line)
		}
	}
	return out
}

// Result is one top-level test of a `go test -v` run.
type Result struct {
	Name string
	// Status is "PASS", "FAIL", "SKIP", or "" when the run ended (panic,
	// timeout, crash) before the test reported.
	Status   string
	Duration time.Duration
	// Output are the lines printed while it ran, its subtests' included.
	Output []string
}

var (
	runLine    = regexp.MustCompile(`^=== (RUN|CONT|PAUSE|NAME)\s+(\S+)`)
	resultLine = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (\S+) \(([0-9.]+)s\)`)
)

// ParseGoTest splits `go test -v` output (possibly with kernel messages
// mixed in) into its top-level tests, in the order they started. Lines
// are attributed to the top-level test that ran last; lines before the
// first test and after the final PASS/FAIL are dropped.
func ParseGoTest(lines []string) []Result {
	var out []Result
	index := map[string]int{}
	cur := -1
	get := func(name string) int {
		top, _, _ := strings.Cut(name, "/")
		i, ok := index[top]
		if !ok {
			i = len(out)
			index[top] = i
			out = append(out, Result{Name: top})
		}
		return i
	}
	for _, line := range lines {
		line = strings.TrimRight(line, "\r")
		if m := runLine.FindStringSubmatch(line); m != nil {
			cur = get(m[2])
			continue
		}
		if m := resultLine.FindStringSubmatch(line); m != nil && !strings.Contains(m[2], "/") {
			cur = get(m[2])
			out[cur].Status = m[1]
			secs, _ := strconv.ParseFloat(m[3], 64)
			out[cur].Duration = time.Duration(secs * float64(time.Second))
			continue
		}
		if line == "PASS" || line == "FAIL" {
			cur = -1
			continue
		}
		if cur >= 0 {
			out[cur].Output = append(out[cur].Output, line)
		}
	}
	return out
}
