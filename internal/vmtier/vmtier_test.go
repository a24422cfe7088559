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

// DefaultRun is the e2e tests the tier runs: those that need 802.1Q or
// GRE, which the machine's own kernel lacks.
const DefaultRun = "TestVLANGRE|TestDVRVLAN|TestDVRGRE|TestFullKernelSmoke"

// Environment knobs (docs/vmtier.md).
const (
	envRun     = "NEUTRINO_VMTIER_RUN"     // -test.run pattern inside the VM
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
	run := envOr(envRun, DefaultRun)
	timeout := durationEnv(t, envTimeout, 8*time.Minute)
	dir := t.TempDir()
	start := time.Now()
	init, test := buildBinaries(t, dir)
	// Measured after the build, which may take minutes on a cold cache.
	if dl, ok := t.Deadline(); ok && time.Until(dl)-30*time.Second < timeout {
		timeout = time.Until(dl) - 30*time.Second
	}
	initrd := writeInitramfs(t, dir, k, init, test, vmproto.Config{
		Run: run,
		// The tests' own timeout fires first, so a hung test is named
		// with its goroutines instead of the VM just being killed.
		Timeout: inVMTimeout(timeout).String(),
		Preload: Preload,
		Args:    strings.Fields(os.Getenv(envArgs)),
	})
	built := time.Since(start)
	vm := VM{QEMU: qemu, Kernel: k.Image, Initrd: initrd, MemMB: intEnv(t, envMem, 2048), CPUs: intEnv(t, envCPUs, 2), Timeout: timeout}
	t.Logf("booting %s (%s) with -test.run %q, timeout %s", k.Image, k.Release, run, timeout)
	c, err := vm.Run(context.Background(), func(l string) { t.Log("vm| " + l) })
	t.Logf("figures: build %s, boot to init %s (kernel uptime %.1fs), modules %d in %.1fs, tests %s, VM total %s",
		built.Round(time.Second), c.Boot.Round(100*time.Millisecond), c.InitUptime, c.ModulesLoaded, c.ModulesTime,
		c.Run.Round(100*time.Millisecond), c.Total.Round(100*time.Millisecond))
	if err != nil {
		t.Fatalf("%v (console above)", err)
	}
	report(t, c)
}

// buildBinaries builds the static init and e2e test binary into dir.
func buildBinaries(t *testing.T, dir string) (init, test string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	init, test = filepath.Join(dir, "init"), filepath.Join(dir, "e2e.test")
	if err := BuildStatic(ctx, init, test); err != nil {
		t.Fatal(err)
	}
	return init, test
}

// writeInitramfs writes the VM's initramfs into dir.
func writeInitramfs(t *testing.T, dir string, k Kernel, init, test string, cfg vmproto.Config) string {
	t.Helper()
	busybox, _ := exec.LookPath("busybox")
	if busybox != "" && !IsStatic(busybox) {
		t.Logf("%s is not static: the VM gets no shell tools (install busybox-static)", busybox)
		busybox = ""
	}
	a, err := Layout{Release: k.Release, ModulesDir: k.ModulesDir, Init: init, TestBinary: test, Busybox: busybox, Config: cfg}.Build()
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

// report turns the in-VM run into one subtest per in-VM top-level test
// and fails or skips the host test to match.
func report(t *testing.T, c Console) {
	results := vmproto.ParseGoTest(c.Lines)
	if c.ExitCode == nil {
		t.Fatalf("the VM ended without the %s marker (kernel panic or crash; console above)", vmproto.ExitMarker)
	}
	if len(results) == 0 {
		if *c.ExitCode != 0 {
			t.Fatalf("in-VM test binary exited %d before running a test (console above)", *c.ExitCode)
		}
		t.Skip("no in-VM test matched the pattern")
	}
	skipped := 0
	for _, r := range results {
		t.Run(r.Name, func(t *testing.T) {
			switch r.Status {
			case "PASS":
				t.Logf("passed in the VM in %s", r.Duration)
			case "SKIP":
				skipped++
				t.Skipf("skipped in the VM:\n%s", strings.Join(r.Output, "\n"))
			case "FAIL":
				t.Errorf("failed in the VM after %s:\n%s", r.Duration, tail(r.Output))
			default:
				t.Errorf("did not finish in the VM (timeout or crash):\n%s", tail(r.Output))
			}
		})
	}
	if *c.ExitCode != 0 && !t.Failed() {
		t.Errorf("in-VM test binary exited %d", *c.ExitCode)
	}
	if skipped == len(results) {
		t.Skip("every in-VM test skipped")
	}
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
