package vmtier

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/neutrino-net/neutrino/internal/vmtier/vmproto"
)

// Kernel is a bootable kernel with its module tree.
type Kernel struct {
	Image      string // /boot/vmlinuz-<release>
	Release    string
	ModulesDir string // /lib/modules/<release>
}

// FindKernel returns the kernel to boot: image if given, else the
// newest /boot/vmlinuz-* that has a module tree. The error says what is
// missing (the test skips with it).
func FindKernel(image string) (Kernel, error) {
	candidates := []string{image}
	if image == "" {
		candidates, _ = filepath.Glob("/boot/vmlinuz-*")
		sort.Sort(sort.Reverse(sort.StringSlice(candidates)))
	}
	for _, img := range candidates {
		rel := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		k := Kernel{Image: img, Release: rel, ModulesDir: filepath.Join("/lib/modules", rel)}
		if _, err := os.Stat(filepath.Join(k.ModulesDir, "modules.dep")); err != nil {
			continue
		}
		f, err := os.Open(img)
		if err != nil {
			return k, fmt.Errorf("kernel image %s unreadable (%v): run as root", img, err)
		}
		f.Close()
		return k, nil
	}
	return Kernel{}, fmt.Errorf("no /boot/vmlinuz-* with a /lib/modules/<release>/modules.dep: install linux-image-amd64")
}

// IsStatic reports whether an ELF program needs no dynamic loader
// (only such programs run in the initramfs, which has no libc).
func IsStatic(file string) bool {
	f, err := elf.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// VM is one QEMU run.
type VM struct {
	QEMU    string // qemu-system-x86_64
	Kernel  string
	Initrd  string
	MemMB   int
	CPUs    int
	Append  string // extra kernel command line
	Timeout time.Duration
}

// Console is what a run printed and when.
type Console struct {
	Lines []string
	// ExitCode is the test binary's exit code from the exit marker; nil
	// if the VM ended without printing it (crash, panic, timeout).
	ExitCode *int
	// InitUptime is the kernel's uptime when init started (its own
	// clock, which runs slow under heavy emulation).
	InitUptime float64
	// Boot is the wall time from starting QEMU to init's first line; Run
	// from there to the exit marker; Total to QEMU's exit.
	Boot, Run, Total time.Duration
	ModulesLoaded    int
	ModulesTime      float64
	TimedOut         bool
}

// Args are QEMU's arguments: software emulation on every host CPU
// thread (no KVM), no devices but the serial console, which is QEMU's
// standard output.
func (vm VM) Args() []string {
	cmdline := "console=ttyS0 panic=-1 quiet"
	if vm.Append != "" {
		cmdline += " " + vm.Append
	}
	return []string{
		"-accel", "tcg,thread=multi", "-cpu", "max",
		"-smp", strconv.Itoa(vm.CPUs), "-m", strconv.Itoa(vm.MemMB),
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", vm.Kernel, "-initrd", vm.Initrd, "-append", cmdline,
	}
}

// Run boots the VM, passes each console line to line as it comes, and
// returns when QEMU exits (the init powers off after the tests) or the
// timeout passes, in which case the QEMU process it started is killed.
func (vm VM) Run(ctx context.Context, line func(string)) (Console, error) {
	var c Console
	ctx, cancel := context.WithTimeout(ctx, vm.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, vm.QEMU, vm.Args()...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	// If the test process itself dies (go test's own timeout), QEMU must
	// not run on with nobody reading its console.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = nil
	out, err := cmd.StdoutPipe()
	if err != nil {
		return c, err
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return c, err
	}
	var initAt time.Time
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		c.Lines = append(c.Lines, l)
		line(l)
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == vmproto.InitMarker:
			initAt = time.Now()
			c.Boot = initAt.Sub(start)
			c.InitUptime, _ = strconv.ParseFloat(f[1], 64)
		case len(f) == 3 && f[0] == vmproto.ModulesMarker:
			c.ModulesTime, _ = strconv.ParseFloat(f[1], 64)
			c.ModulesLoaded, _ = strconv.Atoi(f[2])
		case len(f) == 2 && f[0] == vmproto.ExitMarker:
			if n, err := strconv.Atoi(f[1]); err == nil {
				c.ExitCode = &n
				if !initAt.IsZero() {
					c.Run = time.Since(initAt)
				}
			}
		}
	}
	if sc.Err() != nil { // a line too long: keep QEMU from blocking on the pipe
		io.Copy(io.Discard, out)
	}
	err = cmd.Wait()
	c.Total = time.Since(start)
	if ctx.Err() != nil {
		c.TimedOut = true
		return c, fmt.Errorf("VM still running after %s: killed QEMU (pid %d)", vm.Timeout, cmd.Process.Pid)
	}
	if err != nil && c.ExitCode == nil {
		return c, fmt.Errorf("qemu: %w", err)
	}
	return c, nil
}
