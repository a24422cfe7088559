package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/neutrino-net/neutrino/internal/vmtier/kmod"
	"golang.org/x/sys/unix"
)

// moduleDir is /lib/modules/<running release>.
func moduleDir() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:])), nil
}

func loadIndex() (*kmod.Index, string, error) {
	dir, err := moduleDir()
	if err != nil {
		return nil, "", err
	}
	dep, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, "", err
	}
	alias, _ := os.ReadFile(filepath.Join(dir, "modules.alias"))
	softdep, _ := os.ReadFile(filepath.Join(dir, "modules.softdep"))
	x, err := kmod.Parse(string(dep), string(alias), string(softdep))
	return x, dir, err
}

// insmod loads one module file; one already loaded is no error.
func insmod(dir, file string) error {
	f, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load %s: %w", kmod.Name(file), err)
	}
	return nil
}

// load loads the named modules and their dependencies; it returns how
// many files it loaded and the failures.
func load(x *kmod.Index, dir string, names []string) (int, []error) {
	var errs []error
	var known []string
	for _, n := range names {
		if x.File(n) == "" {
			errs = append(errs, fmt.Errorf("no module %s in the initramfs", n))
			continue
		}
		known = append(known, n)
	}
	files, _ := x.Order(known...)
	n := 0
	for _, f := range files {
		if err := insmod(dir, f); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errs
}

// preload loads the configured modules before the tests start and says
// which failed (a test that needs one then fails or skips and says so).
func preload(names []string) int {
	x, dir, err := loadIndex()
	if err != nil {
		fmt.Println("vminit: modules:", err)
		return 0
	}
	n, errs := load(x, dir, names)
	for _, err := range errs {
		fmt.Println("vminit:", err)
	}
	return n
}

// modprobe is the kernel's on-demand module helper: it is called as
// "modprobe -q -- <name or alias>". It runs outside the init's output,
// so it reports failures to the kernel log.
func modprobe(args []string) int {
	var names []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			names = append(names, a)
		}
	}
	x, dir, err := loadIndex()
	if err != nil {
		kmsg("modprobe: %v", err)
		return 1
	}
	var mods []string
	for _, n := range names {
		mods = append(mods, x.Resolve(n)...)
	}
	if len(mods) == 0 {
		return 1 // no such module: the kernel's caller gets its error
	}
	if _, errs := load(x, dir, mods); len(errs) > 0 {
		for _, err := range errs {
			kmsg("modprobe %s: %v", strings.Join(names, " "), err)
		}
		return 1
	}
	return 0
}

// kmsg writes a warning to the kernel log (and so to the console).
func kmsg(format string, args ...any) {
	f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "<3>vminit: "+format+"\n", args...)
}
