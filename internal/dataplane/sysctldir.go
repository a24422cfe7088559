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
// Instead a namespace's top directories are opened once, from inside
// it, kept open, and the keys opened relative to them (openat). The
// walk is paid once per top directory and namespace for the agent's
// lifetime, not once per key and apply.

// sysctlNS is one namespace's open top directories.
type sysctlNS struct {
	mu   sync.Mutex // one user at a time: fds may be closed and reopened
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
	if !ok {
		return unix.Open("/proc/sys/"+key, unix.O_RDWR|unix.O_CLOEXEC, 0)
	}
	for retry := 0; ; retry++ {
		fd, cached := s.dirs[top]
		if !cached {
			var err error
			fd, err = unix.Open("/proc/sys/"+top, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return -1, err
			}
			s.dirs[top] = fd
		}
		f, err := unix.Openat(fd, rest, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && cached && retry == 0 {
			unix.Close(fd)
			delete(s.dirs, top)
			continue
		}
		return f, err
	}
}
