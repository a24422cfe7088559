package dataplane

import (
	"errors"
	"fmt"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"golang.org/x/sys/unix"
)

// sysctlDevice is the device a per-device key is about
// ("net/ipv4/conf/fg-abc/proxy_arp" -> "fg-abc"), or "" for a global key
// and for the "all" and "default" entries.
func sysctlDevice(key string) string {
	p := strings.Split(key, "/")
	if len(p) < 5 || p[0] != "net" || (p[2] != "conf" && p[2] != "neigh") {
		return ""
	}
	if p[3] == "all" || p[3] == "default" {
		return ""
	}
	return p[3]
}

// splitSysctls separates the global keys from the per-device ones.
func splitSysctls(all []desired.Sysctl) (global, perDev []desired.Sysctl) {
	for _, s := range all {
		if sysctlDevice(s.Key) == "" {
			global = append(global, s)
		} else {
			perDev = append(perDev, s)
		}
	}
	return global, perDev
}

// setSysctl writes /proc/sys/<key> of the calling thread's namespace
// (dirs: its directory cache) if its value differs; ok=false: the key
// does not exist (a device not there, a protocol the kernel lacks). The
// file is opened once for both (read, then write at offset 0), relative
// to its namespace's cached top directory (sysctldir.go).
func setSysctl(dirs *sysctlNS, key, value string) (changed, ok bool, err error) {
	fd, err := dirs.open(key)
	if errors.Is(err, unix.ENOENT) {
		return false, false, nil
	}
	if err != nil {
		return false, true, fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 256)
	n, rerr := unix.Pread(fd, buf, 0)
	if rerr == nil && strings.TrimRight(string(buf[:max(n, 0)]), "\n ") == value {
		return false, true, nil
	}
	if _, err := unix.Pwrite(fd, []byte(value), 0); err != nil {
		return false, true, fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return true, true, nil
}

// applySysctls sets sysctls inside namespace nsName and returns the
// ones whose key does not exist. A missing global key is skipped (the
// kernel lacks the feature); a missing per-device key is returned: its
// device may appear later in the apply (the outer end of another
// namespace's pair), and if it never does, that is an error.
func applySysctls(nsh netns.Handle, res *Result, nsName string, ss []desired.Sysctl) (missing []desired.Sysctl, err error) {
	if len(ss) == 0 {
		return nil, nil
	}
	dirs, unlock := sysctlsOf(nsh)
	defer unlock()
	err = netns.RunIn(nsh, func() error {
		var errs []error
		for _, s := range ss {
			changed, ok, err := setSysctl(dirs, s.Key, s.Value)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%w in %s", err, nsName))
			case !ok && sysctlDevice(s.Key) != "":
				missing = append(missing, s)
			case changed:
				res.did("sysctl %s=%s in %s", s.Key, s.Value, nsName)
			}
		}
		return errors.Join(errs...)
	})
	return missing, err
}

// applyLateSysctls sets the per-device sysctls whose devices were not
// there when their namespace was applied (late: namespace -> keys). Each
// namespace's error joins its result's.
func applyLateSysctls(res *Result, late map[string][]desired.Sysctl) error {
	var errs []error
	for name, ss := range late {
		h, err := netns.Open(name)
		if err == nil {
			var missing []desired.Sysctl
			missing, err = applySysctls(h, res, name, ss)
			h.Close()
			for _, s := range missing {
				err = errors.Join(err, fmt.Errorf("sysctl %s in %s: device %s does not exist", s.Key, name, sysctlDevice(s.Key)))
			}
		}
		if err != nil {
			res.Namespaces[name].Err = errors.Join(res.Namespaces[name].Err, err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
