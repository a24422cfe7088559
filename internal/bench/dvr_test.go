package bench_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed"
)

// TestRunDVRTiny runs the DVR benchmark at its smallest size (two
// interface adds, one association at 1 and 3 floating IPs, 1 s of
// iperf3 per path): it proves the steps work, not how fast they are.
// Like every sandbox test, run it under flock /tmp/neutrino-sandbox.lock.
func TestRunDVRTiny(t *testing.T) {
	rep, table := runSandboxBench(t, func(progress io.Writer) (*bench.DVRReport, error) {
		return bench.RunDVR(context.Background(), bench.DVROptions{IfaceRuns: 2, FIPRuns: 1, Scales: []int{1, 3},
			Throughput: time.Second, Chunk: 2, Progress: progress, Sandbox: sandboxOptions(t)})
	})
	if len(rep.InterfaceAdd) != 3 || rep.InterfaceAdd[2].Host != "all" {
		t.Fatalf("interface add: %+v", rep.InterfaceAdd)
	}
	if len(rep.InterfaceAddARP) != 3 {
		t.Fatalf("interface add, ARP probes first: %+v", rep.InterfaceAddARP)
	}
	for _, h := range append(rep.InterfaceAdd, rep.InterfaceAddARP...) {
		if h.N != 2 || h.MinMs <= 0 || h.P99Ms < h.P50Ms {
			t.Errorf("interface add on %s: %+v", h.Host, h.Dist)
		}
	}
	if len(rep.FIP) != 2 || rep.FIP[0].Existing != 1 || rep.FIP[1].Existing != 3 || rep.FIPRatio <= 0 {
		t.Fatalf("floating IP scales: %+v (ratio %v)", rep.FIP, rep.FIPRatio)
	}
	if tp := rep.Throughput; tp.Skipped == "" {
		if len(tp.Paths) != 7 {
			t.Fatalf("throughput paths: %+v", tp.Paths)
		}
		for _, p := range tp.Paths {
			if p.Gbps <= 0 || (p.Name != bench.PathVXLAN && p.VsVXLAN <= 0) || (p.Legacy != "" && p.VsLegacy <= 0) {
				t.Errorf("throughput %s: %+v", p.Name, p)
			}
		}
	}
	for _, want := range []string{"DVR FIP", "every host", "FIP associate p50 ratios: 3:1 = "} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

// TestBenchKilledLeavesNothing kills `neutrino bench dvr` (SIGKILL: no
// deferred cleanup runs) once its sandbox is up: the guard it started
// must remove the sandbox's processes and namespaces.
func TestBenchKilledLeavesNothing(t *testing.T) {
	testbed.RequireRoot(t)
	if testing.Short() {
		t.Skip("builds a sandbox")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "sb")
	// Enough interface adds that it is still running when killed (a
	// tiny run is over within a second or two).
	cmd := exec.Command(exe, "bench", "dvr", "--dir", dir, "--throughput", "0", "--iface-runs", "500", "--fip-runs", "1", "--scales", "1")
	cmd.Env = append(os.Environ(), testbed.Env()...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	prefixRE := regexp.MustCompile(`building the fabric \(prefix ([a-z0-9]+),`)
	prefix := ""
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if m := prefixRE.FindStringSubmatch(sc.Text()); m != nil {
			prefix = m[1]
		}
		if strings.HasPrefix(sc.Text(), "setting up:") { // the sandbox is up
			break
		}
	}
	if prefix == "" {
		t.Fatalf("no sandbox came up:\n%s", log.String())
	}
	// Let it make a few resources and instances first.
	time.Sleep(2 * time.Second)
	if len(ownedNamespaces(prefix)) == 0 || len(procsNaming(dir)) == 0 {
		t.Fatalf("no sandbox namespaces (%v) or processes (%v) to leave behind:\n%s", ownedNamespaces(prefix), procsNaming(dir), log.String())
	}
	cmd.Process.Kill()
	cmd.Wait()
	killed = true
	go func() { // drain, so that nothing blocks on a full pipe
		for sc.Scan() {
		}
	}()
	err = testbed.Poll(60*time.Second, 200*time.Millisecond, func() error {
		if ns := ownedNamespaces(prefix); len(ns) > 0 {
			return &leftover{"namespaces " + strings.Join(ns, " ")}
		}
		if ps := procsNaming(dir); len(ps) > 0 {
			return &leftover{"processes " + strings.Join(ps, " ")}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("60s after the benchmark was killed: %v\n%s", err, log.String())
	}
}

type leftover struct{ what string }

func (l *leftover) Error() string { return l.what + " left" }

func ownedNamespaces(prefix string) []string {
	es, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range es {
		if sandbox.Owned(prefix, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// procsNaming lists the processes whose command line mentions dir.
func procsNaming(dir string) []string {
	es, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range es {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(cl, []byte(dir)) {
			if st, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); bytes.Contains(st, []byte(") Z ")) {
				continue // a zombie is no process left running
			}
			out = append(out, e.Name()+":"+strings.ReplaceAll(string(cl), "\x00", " "))
		}
	}
	return out
}
