package vmtier

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/vmtier/vmproto"
)

// Environment knobs (docs/vmtier.md).
const (
	envTimeout = "NEUTRINO_VMTIER_TIMEOUT" // the VM's whole run (default 8m)
	envKernel  = "NEUTRINO_VMTIER_KERNEL"  // kernel image (default: newest /boot/vmlinuz-*)
	envMem     = "NEUTRINO_VMTIER_MEM"     // MiB (default 2048)
	envCPUs    = "NEUTRINO_VMTIER_CPUS"    // default 2
	envArgs    = "NEUTRINO_VMTIER_ARGS"    // extra test binary arguments, space separated
)

func TestFullKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the full-kernel tier boots a VM under emulation (minutes)")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not found: install qemu-system-x86 (scripts/test does)")
	}
	k, err := FindKernel(os.Getenv(envKernel))
	if err != nil {
		t.Skip(err)
	}
	suites, runs := selectSuites()
	if len(suites) == 0 {
		t.Skip("every suite left out (\"-\")")
	}
	timeout := durationEnv(t, envTimeout, 8*time.Minute)
	dir := t.TempDir()
	start := time.Now()
	init, tests := buildBinaries(t, dir, suites)
	// Measured after the build, which may take minutes on a cold cache.
	if dl, ok := t.Deadline(); ok && time.Until(dl)-30*time.Second < timeout {
		timeout = time.Until(dl) - 30*time.Second
	}
	initrd := writeInitramfs(t, dir, k, init, tests, vmproto.Config{
		Suites: runs,
		// The tests' own timeout fires first, so a hung test is named
		// with its goroutines instead of the VM just being killed.
		Timeout: inVMTimeout(timeout).String(),
		Preload: Preload,
		Args:    strings.Fields(os.Getenv(envArgs)),
	})
	built := time.Since(start)
	vm := VM{QEMU: qemu, Kernel: k.Image, Initrd: initrd, MemMB: intEnv(t, envMem, 2048), CPUs: intEnv(t, envCPUs, 2), Timeout: timeout}
	t.Logf("booting %s (%s) with suites %+v, timeout %s", k.Image, k.Release, runs, timeout)
	c, err := vm.Run(context.Background(), func(l string) { t.Log("vm| " + l) })
	t.Logf("figures: build %s, boot to init %s (kernel uptime %.1fs), modules %d in %.1fs, tests %s, VM total %s",
		built.Round(time.Second), c.Boot.Round(100*time.Millisecond), c.InitUptime, c.ModulesLoaded, c.ModulesTime,
		c.Run.Round(100*time.Millisecond), c.Total.Round(100*time.Millisecond))
	if err != nil {
		t.Fatalf("%v (console above)", err)
	}
	report(t, c)
}

// selectSuites is the suites to run, each with its pattern from its
// environment variable or its default; "-" leaves a suite out.
func selectSuites() ([]Suite, []vmproto.Suite) {
	var suites []Suite
	var runs []vmproto.Suite
	for _, s := range Suites {
		run := envOr(s.Env, s.Run)
		if run == "-" {
			continue
		}
		suites = append(suites, s)
		runs = append(runs, vmproto.Suite{Name: s.Name, Run: run})
	}
	return suites, runs
}

// buildBinaries builds the static init and the suites' test binaries
// into dir.
func buildBinaries(t *testing.T, dir string, suites []Suite) (init string, tests map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	init = filepath.Join(dir, "init")
	tests, err := BuildStatic(ctx, init, dir, suites)
	if err != nil {
		t.Fatal(err)
	}
	return init, tests
}

// writeInitramfs writes the VM's initramfs into dir.
func writeInitramfs(t *testing.T, dir string, k Kernel, init string, tests map[string]string, cfg vmproto.Config) string {
	t.Helper()
	busybox, _ := exec.LookPath("busybox")
	if busybox != "" && !IsStatic(busybox) {
		t.Logf("%s is not static: the VM gets no shell tools (install busybox-static)", busybox)
		busybox = ""
	}
	a, err := Layout{Release: k.Release, ModulesDir: k.ModulesDir, Init: init, TestBinaries: tests, Busybox: busybox, Config: cfg}.Build()
	if err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(dir, "initramfs.cpio.gz")
	if err := a.WriteGzip(initrd); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(initrd); err == nil {
		t.Logf("initramfs: %d entries, %.1f MiB compressed", len(a.Names()), float64(fi.Size())/(1<<20))
	}
	return initrd
}

// report turns the in-VM run into one subtest per suite and in-VM
// top-level test (TestFullKernel/<suite>/<test>) and fails or skips the
// host test to match.
func report(t *testing.T, c Console) {
	if c.ExitCode == nil {
		t.Fatalf("the VM ended without the %s marker (kernel panic or crash; console above)", vmproto.ExitMarker)
	}
	ran, skipped := 0, 0
	for _, s := range vmproto.SplitSuites(c.Lines) {
		results := vmproto.ParseGoTest(s.Lines)
		ran += len(results)
		t.Run(s.Name, func(t *testing.T) {
			for _, r := range results {
				if reportTest(t, r) {
					skipped++
				}
			}
		})
	}
	if ran == 0 {
		if *c.ExitCode != 0 {
			t.Fatalf("in-VM test binary exited %d before running a test (console above)", *c.ExitCode)
		}
		t.Skip("no in-VM test matched the patterns")
	}
	if *c.ExitCode != 0 && !t.Failed() {
		t.Errorf("in-VM test binary exited %d", *c.ExitCode)
	}
	if skipped == ran {
		t.Skip("every in-VM test skipped")
	}
}

// reportTest reports one in-VM test as a subtest; it says whether the
// test skipped.
func reportTest(t *testing.T, r vmproto.Result) (skipped bool) {
	t.Run(r.Name, func(t *testing.T) {
		switch r.Status {
		case "PASS":
			t.Logf("passed in the VM in %s", r.Duration)
		case "SKIP":
			skipped = true
			t.Skipf("skipped in the VM:\n%s", strings.Join(r.Output, "\n"))
		case "FAIL":
			t.Errorf("failed in the VM after %s:\n%s", r.Duration, tail(r.Output))
		default:
			t.Errorf("did not finish in the VM (timeout or crash):\n%s", tail(r.Output))
		}
	})
	return skipped
}

// tail is the end of an in-VM test's output for its failure message
// (the whole of it is in the log above, as vm| lines).
func tail(lines []string) string {
	const max = 150
	if len(lines) <= max {
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("(%d lines before these are in the vm| lines above)\n%s", len(lines)-max, strings.Join(lines[len(lines)-max:], "\n"))
}

// inVMTimeout is the test binary's -test.timeout: a minute less than the
// VM's (booting and reporting take less), or three quarters of a short
// one.
func inVMTimeout(vm time.Duration) time.Duration {
	d := vm - time.Minute
	if d < vm*3/4 {
		d = vm * 3 / 4
	}
	return d.Round(time.Second)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func durationEnv(t *testing.T, key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", key, v, err)
	}
	return d
}

func intEnv(t *testing.T, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", key, v)
	}
	return n
}
