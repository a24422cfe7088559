// Command vminit is PID 1 of the full-kernel test tier's VM (see
// docs/vmtier.md): it mounts what a Debian host would have (proc, sysfs,
// devtmpfs, tmpfs /tmp and /run, cgroup2), loads the configured kernel
// modules, runs each configured suite's test binary (e2e, dataplane)
// with its -test.run pattern and its output on the serial console after
// a suite marker, prints the exit marker and powers the VM off.
//
// The same binary is the kernel's module helper (/sbin/modprobe links to
// it): on-demand requests such as "nft-expr-ct" or "rtnl-link-vlan" are
// resolved through the modules.alias and modules.dep the initramfs
// carries, as modprobe would.
//
// It must be static (CGO_ENABLED=0): the initramfs has no libc.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/neutrino-net/neutrino/internal/vmtier/vmproto"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func main() {
	if filepath.Base(os.Args[0]) == "modprobe" {
		os.Exit(modprobe(os.Args[1:]))
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "vminit: must run as PID 1 of the test VM")
		os.Exit(2)
	}
	code := initVM()
	fmt.Printf("\n%s %d\n", vmproto.ExitMarker, code)
	unix.Sync()
	// Powering off ends QEMU; if that failed, returning makes the kernel
	// panic, and panic=-1 with -no-reboot ends it too.
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Println("vminit: power off:", err)
	}
	time.Sleep(5 * time.Second)
}

// initVM sets the VM up and runs the tests; it returns their exit code,
// or -1 if they could not be run.
func initVM() int {
	mountAll()
	fmt.Printf("%s %s\n", vmproto.InitMarker, uptime())
	cfg, err := readConfig()
	if err != nil {
		fmt.Println("vminit:", err)
		return -1
	}
	if err := loUp(); err != nil {
		fmt.Println("vminit: lo up:", err)
	}
	start := time.Now()
	n := preload(cfg.Preload)
	fmt.Printf("%s %.2f %d\n", vmproto.ModulesMarker, time.Since(start).Seconds(), n)
	return runTests(cfg)
}

type mountSpec struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

// mountAll mounts the kernel file systems and the tmpfs directories the
// sandbox writes to. / is made recursively shared, as systemd makes it
// on a host: the sandbox's /run/netns bind mounts rely on host-like
// propagation (internal/netns prepares /run/netns itself).
func mountAll() {
	for _, m := range []mountSpec{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "ptmxmode=0666"},
		{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, ""},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	} {
		os.MkdirAll(m.target, 0o755)
		if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil {
			fmt.Printf("vminit: mount %s on %s: %v\n", m.fstype, m.target, err)
		}
	}
	if err := unix.Mount("", "/", "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		fmt.Println("vminit: make / shared:", err)
	}
	os.MkdirAll("/run/netns", 0o755)
	os.MkdirAll("/run/lock", 0o755)
}

// uptime is the kernel's uptime in seconds, as /proc/uptime says.
func uptime() string {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func readConfig() (vmproto.Config, error) {
	var cfg vmproto.Config
	b, err := os.ReadFile(vmproto.ConfigPath)
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", vmproto.ConfigPath, err)
	}
	return cfg, nil
}

func loUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(lo)
}

// runTests runs each suite's test binary in turn; the result is the
// first exit code that is not 0 (so a failing suite is not hidden by a
// later one that passes).
func runTests(cfg vmproto.Config) int {
	code := 0
	for _, st := range cfg.Suites {
		fmt.Printf("%s %s\n", vmproto.SuiteMarker, st.Name)
		if c := runSuite(cfg, st); code == 0 {
			code = c
		}
	}
	return code
}

// runSuite runs one test binary in the foreground and reaps every child
// that ends meanwhile: as PID 1 the init inherits the sandbox's orphaned
// processes, and exec.Cmd.Wait cannot be used beside a wait-for-any
// loop (it would race it for the test binary's status).
func runSuite(cfg vmproto.Config, st vmproto.Suite) int {
	args := []string{"-test.v", "-test.count=1", "-test.run", st.Run}
	if cfg.Timeout != "" {
		args = append(args, "-test.timeout", cfg.Timeout)
	}
	args = append(args, cfg.Args...)
	bin := vmproto.BinaryPath(st.Name)
	cmd := exec.Command(bin, args...)
	cmd.Dir = "/tmp"
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp", "TMPDIR=/tmp", "NEUTRINO_VMTIER=1"}, cfg.Env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	fmt.Printf("vminit: %s %s\n", bin, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		fmt.Println("vminit:", err)
		return -1
	}
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			fmt.Println("vminit: wait:", err)
			return -1
		}
		if pid != cmd.Process.Pid {
			continue
		}
		if ws.Signaled() {
			fmt.Printf("vminit: test binary killed by %v\n", ws.Signal())
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}
