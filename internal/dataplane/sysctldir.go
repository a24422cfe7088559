package dataplane

import (
	"errors"
	"strings"
	"sync"

	"github.com/neutrino-net/neutrino/internal/netns"
	"golang.org/x/sys/unix"
)

// Sysctl directory cache.
//
// /proc/sys keeps one dentry per namespace for each of a namespace's
// top directories (net/ipv4, net/ipv6, net/netfilter, ...), all under
// the same parent ("net") and name, so they share a dcache hash chain,
// and a path lookup from a thread in namespace X compares X's directory
// with every other namespace's one by one (proc_sys_compare, under the
// global sysctl_lock). Below that directory the dentries are X's own
// and found at once. So every open of "/proc/sys/net/ipv4/..." cost
// one walk of a chain as long as the node has namespaces: at 500
// routers that was a quarter of a cold start's kernel time (perf:
// __d_lookup, proc_sys_compare), and the cost per namespace grows with
// the node.
//
// Instead each namespace gets a procfs instance of its own (fsopen and
// fsmount: a detached mount nobody else sees, with its own dentry tree
// since Linux 5.8), opened from inside the namespace, and its top
// directories are opened there once, kept open, and the keys opened
// relative to them (openat). The chains under that instance's "net"
// hold this namespace's dentries only, and the cost of a namespace's
// keys no longer grows with the node. Where a private instance cannot
// be made (an older kernel), /proc/sys is used, still with the
// directories kept: one walk per top directory and namespace for the
// agent's lifetime, not one per key and apply.

// sysctlNS is one namespace's open top directories.
type sysctlNS struct {
	mu   sync.Mutex // one user at a time: fds may be closed and reopened
	sys  int        // the namespace's sys directory (0: not open yet)
	mnt  int        // its private procfs mount (0: none)
	dirs map[string]int
}

var sysctlDirs = struct {
	sync.Mutex
	m map[nsFileKey]*sysctlNS
}{m: map[nsFileKey]*sysctlNS{}}

// nsFileKey names a namespace by its nsfs inode, not its name: a name
// deleted and made again is another namespace.
type nsFileKey struct{ dev, ino uint64 }

func nsFileKeyOf(h netns.Handle) (nsFileKey, bool) {
	var st unix.Stat_t
	if h < 0 || unix.Fstat(int(h), &st) != nil {
		return nsFileKey{}, false
	}
	return nsFileKey{st.Dev, st.Ino}, true
}

// sysctlsOf returns the directory cache of namespace h, locked; call
// its unlock when done. Without a key (fstat failed) it is a fresh,
// uncached one whose unlock closes its directories.
func sysctlsOf(h netns.Handle) (*sysctlNS, func()) {
	key, ok := nsFileKeyOf(h)
	if !ok {
		s := &sysctlNS{dirs: map[string]int{}}
		return s, s.closeAll
	}
	sysctlDirs.Lock()
	s := sysctlDirs.m[key]
	if s == nil {
		s = &sysctlNS{dirs: map[string]int{}}
		sysctlDirs.m[key] = s
	}
	sysctlDirs.Unlock()
	s.mu.Lock()
	return s, s.mu.Unlock
}

// forgetSysctlDirs closes the cached directories of namespace h (call
// it before deleting the namespace).
func forgetSysctlDirs(h netns.Handle) {
	key, ok := nsFileKeyOf(h)
	if !ok {
		return
	}
	sysctlDirs.Lock()
	s := sysctlDirs.m[key]
	delete(sysctlDirs.m, key)
	sysctlDirs.Unlock()
	if s != nil {
		s.mu.Lock()
		s.closeAll()
		s.mu.Unlock()
	}
}

func (s *sysctlNS) closeAll() {
	for d, fd := range s.dirs {
		unix.Close(fd)
		delete(s.dirs, d)
	}
	for _, fd := range []int{s.sys, s.mnt} {
		if fd > 0 {
			unix.Close(fd)
		}
	}
	s.sys, s.mnt = 0, 0
}

// privateProcSys opens the sys directory of a procfs instance of the
// calling thread's own (see above) and returns it with the instance's
// mount (detached: it goes away once both are closed). The mount is
// kept open with the directory: closing the last descriptor of a
// detached mount unmounts it, which waits for an expedited RCU grace
// period, and that should happen when the namespace goes, not once per
// namespace on every start.
func privateProcSys() (sys, mnt int, err error) {
	fs, err := unix.Fsopen("proc", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, -1, err
	}
	defer unix.Close(fs)
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, -1, err
	}
	mnt, err = unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, -1, err
	}
	sys, err = unix.Openat(mnt, "sys", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(mnt)
		return -1, -1, err
	}
	return sys, mnt, nil
}

// sysDir returns the namespace's sys directory, opening it first: a
// private procfs instance's, or /proc/sys.
func (s *sysctlNS) sysDir() (int, error) {
	if s.sys > 0 {
		return s.sys, nil
	}
	fd, mnt, err := privateProcSys()
	if err != nil {
		mnt = 0
		fd, err = unix.Open("/proc/sys", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return -1, err
	}
	s.sys, s.mnt = fd, mnt
	return fd, nil
}

// splitTop splits a key after its top directory ("net/ipv4/conf/x/y"
// -> "net/ipv4", "conf/x/y"); ok=false for a key with no file below
// one.
func splitTop(key string) (top, rest string, ok bool) {
	i := strings.IndexByte(key, '/')
	if i < 0 {
		return "", "", false
	}
	j := strings.IndexByte(key[i+1:], '/')
	if j < 0 {
		return "", "", false
	}
	return key[:i+1+j], key[i+2+j:], true
}

// open opens /proc/sys/<key> read-write from a thread inside the
// namespace. A cached directory that fails with ENOENT is reopened once:
// it may belong to a namespace gone since (whose nsfs inode a new one
// reuses), whose sysctl tables are unregistered.
func (s *sysctlNS) open(key string) (int, error) {
	top, rest, ok := splitTop(key)
	for retry := 0; ; retry++ {
		sys, err := s.sysDir()
		if err != nil {
			return -1, err
		}
		if !ok {
			return unix.Openat(sys, key, unix.O_RDWR|unix.O_CLOEXEC, 0)
		}
		fd, cached := s.dirs[top]
		if !cached {
			fd, err = unix.Openat(sys, top, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return -1, err
			}
			s.dirs[top] = fd
		}
		f, err := unix.Openat(fd, rest, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && cached && retry == 0 {
			// Start again from a new instance: the cached one may be
			// a namespace's that is gone.
			s.closeAll()
			continue
		}
		return f, err
	}
}
