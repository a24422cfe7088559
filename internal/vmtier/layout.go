package vmtier

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/neutrino-net/neutrino/internal/vmtier/kmod"
	"github.com/neutrino-net/neutrino/internal/vmtier/vmproto"
)

// ModulePaths are the parts of the kernel's module tree the initramfs
// carries (with their dependencies): the whole network stack the agents
// and tests may touch. The VM loads Preload at boot and the rest when
// the kernel asks for them (vminit is its modprobe).
var ModulePaths = []string{
	"kernel/net/netfilter", "kernel/net/bridge", "kernel/net/8021q", "kernel/net/802",
	"kernel/net/llc", "kernel/net/ipv4", "kernel/net/ipv6", "kernel/net/sched", "kernel/net/core",
	"kernel/net/packet", "kernel/net/xfrm", "kernel/net/key", "kernel/drivers/net/veth.ko", "kernel/drivers/net/vxlan",
	"kernel/drivers/net/dummy.ko", "kernel/drivers/net/vrf.ko", "kernel/drivers/net/macvlan.ko",
	"kernel/drivers/net/tun.ko", "kernel/drivers/net/geneve.ko",
	// crc32c implementations: libcrc32c (conntrack, nf_tables) needs one.
	"kernel/crypto/crc32c_generic.ko", "kernel/arch/x86/crypto/crc32c-intel.ko",
}

// Preload are the modules loaded before the tests start: what the
// machine the tier stands in for has built in (the bridge with
// br_netfilter, VXLAN, veth, nftables with conntrack and NAT) plus what
// the kernel would not load on its own at the right moment (802.1Q and
// GRE are requested on demand too, but loading them up front makes a
// missing one show at boot, not as a confusing test failure).
var Preload = []string{
	"8021q", "gre", "ip_gre", "ip_tunnel", "bridge", "br_netfilter", "veth", "vxlan",
	"nf_tables", "nfnetlink", "nf_conntrack", "nf_conntrack_netlink", "nf_nat", "nf_defrag_ipv4", "nf_defrag_ipv6",
	"nf_reject_ipv4", "nf_reject_ipv6", "nft_chain_nat", "nft_ct", "nft_nat", "nft_masq", "nft_redir",
	"nft_reject", "nft_reject_inet", "nft_reject_ipv4", "nft_reject_ipv6", "nft_reject_bridge",
	"nft_fib", "nft_fib_inet", "nft_fib_ipv4", "nft_fib_ipv6", "nft_meta_bridge", "nft_limit",
	"nft_log", "nft_hash", "nft_numgen", "nft_quota", "nft_objref", "nft_tunnel",
	"nft_dup_netdev", "nft_fwd_netdev", "nft_compat",
	// vishvananda/netlink's handles open an XFRM socket too.
	"xfrm_user",
}

// Busybox applets linked into /bin: the few tools a test or a debug
// dump may shell out to, and a shell for looking around. ip is ipScript.
var busyboxApplets = []string{"sh", "ls", "cat", "ps", "mount", "ping", "sleep", "dmesg", "ss", "netstat", "sysctl", "nsenter"}

// ipScript is /bin/ip: busybox's ip has neither -n (iproute2's "in this
// named namespace", which the DVR failure dump uses) nor -br, so -n
// enters the namespace with nsenter first and -br is dropped.
const ipScript = `#!/bin/sh
ns=
while [ $# -gt 0 ]; do
	case "$1" in
	-n) ns=$2; shift 2 ;;
	-br|-brief) shift ;;
	*) break ;;
	esac
done
if [ -n "$ns" ]; then
	exec /bin/busybox nsenter --net=/run/netns/"$ns" /bin/busybox ip "$@"
fi
exec /bin/busybox ip "$@"
`

// Layout is what goes into the VM.
type Layout struct {
	Release    string // kernel release (uname -r in the VM)
	ModulesDir string // the host's /lib/modules/<Release>
	Init       string // static vminit binary
	// TestBinaries are the static test binaries by suite name (each goes
	// to vmproto.BinaryPath).
	TestBinaries map[string]string
	Busybox      string // static busybox, or "" for none
	Config       vmproto.Config
}

// Build assembles the initramfs content.
func (l Layout) Build() (*Archive, error) {
	a := NewArchive()
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp", "/run", "/root", "/var/tmp", "/var/lib", "/etc", "/bin", "/sbin", "/usr/bin", "/usr/sbin"} {
		a.Dir(d)
	}
	a.Symlink("/var/run", "../run")
	a.File("/init", l.Init, 0o755)
	a.Symlink("/sbin/modprobe", "../init")
	for _, name := range slices.Sorted(maps.Keys(l.TestBinaries)) {
		a.File(vmproto.BinaryPath(name), l.TestBinaries[name], 0o755)
	}
	if l.Busybox != "" {
		a.File("/bin/busybox", l.Busybox, 0o755)
		for _, app := range busyboxApplets {
			a.Symlink("/bin/"+app, "busybox")
		}
		a.Data("/bin/ip", []byte(ipScript), 0o755)
	}
	l.etc(a)
	if err := l.modules(a); err != nil {
		return nil, err
	}
	cfg, err := json.MarshalIndent(l.Config, "", "  ")
	if err != nil {
		return nil, err
	}
	a.Data(vmproto.ConfigPath, cfg, 0o644)
	return a, nil
}

// etc writes the few files Go's resolver and user lookups read; the
// protocol and service tables come from the host when it has them.
func (l Layout) etc(a *Archive) {
	a.Data("/etc/hosts", []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"), 0o644)
	a.Data("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	a.Data("/etc/group", []byte("root:x:0:\n"), 0o644)
	a.Data("/etc/nsswitch.conf", []byte("hosts: files\n"), 0o644)
	a.Data("/etc/resolv.conf", nil, 0o644)
	for _, f := range []string{"/etc/protocols", "/etc/services"} {
		if _, err := os.Stat(f); err == nil {
			a.File(f, f, 0o644)
		}
	}
}

// modules adds ModulePaths and their dependencies, with a modules.dep
// and modules.alias for just those.
func (l Layout) modules(a *Archive) error {
	dep, err := os.ReadFile(filepath.Join(l.ModulesDir, "modules.dep"))
	if err != nil {
		return err
	}
	alias, err := os.ReadFile(filepath.Join(l.ModulesDir, "modules.alias"))
	if err != nil {
		return err
	}
	softdep, _ := os.ReadFile(filepath.Join(l.ModulesDir, "modules.softdep"))
	x, err := kmod.Parse(string(dep), string(alias), string(softdep))
	if err != nil {
		return err
	}
	var names []string
	for _, f := range x.Under(ModulePaths...) {
		names = append(names, kmod.Name(f))
	}
	files, err := x.Order(names...)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no network modules under %s", l.ModulesDir)
	}
	dir := path.Join("/lib/modules", l.Release)
	for _, f := range files {
		a.File(path.Join(dir, f), filepath.Join(l.ModulesDir, f), 0o644)
	}
	d, al, sd := x.Subset(files)
	a.Data(path.Join(dir, "modules.dep"), []byte(d), 0o644)
	a.Data(path.Join(dir, "modules.alias"), []byte(al), 0o644)
	a.Data(path.Join(dir, "modules.softdep"), []byte(sd), 0o644)
	return nil
}
