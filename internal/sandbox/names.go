package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Defaults of the command line.
const (
	DefaultDir      = "/run/neutrino/sandbox"
	DefaultPrefix   = "nt"
	DefaultPort     = 9696
	DefaultComputes = 2
	MaxComputes     = 50
)

// Agent modes of the simulated hosts.
const (
	ModeDVRSNAT = "dvr_snat"
	ModeDVR     = "dvr"
)

// Fabric addressing.
var (
	TunnelNet     = netip.MustParsePrefix("10.0.1.0/24")
	ExternalNet   = netip.MustParsePrefix("203.0.113.0/24")
	UpstreamExtIP = netip.MustParseAddr("203.0.113.1")
	InternetNet   = netip.MustParsePrefix("198.51.100.0/24")
	UpstreamInIP  = netip.MustParseAddr("198.51.100.1")
	InternetIP    = netip.MustParseAddr("198.51.100.10")
)

// Node names that are not hosts.
const (
	NodeFabric   = "fabric"
	NodeUpstream = "upstream"
	NodeInternet = "internet"
	NodeNetwork1 = "network1"
)

// Fabric device names.
const (
	BridgeTunnel   = "br-tun"
	BridgeExternal = "br-ext"
	HostTunnelIf   = "eth0"     // host end on br-tun
	HostExternalIf = "eth1"     // host end on br-ext, physnet "external"
	Physnet        = "external" // the walkthrough's flat_networks = external
	FabricMTU      = 1500
)

// Host is one simulated host.
type Host struct {
	Name     string     `json:"name"`
	Mode     string     `json:"agent_mode"`
	TunnelIP netip.Addr `json:"tunnel_ip"`
	// DHCPAgent: the host runs a DHCP agent. As in the DVR walkthrough's
	// `network agent list`, only the network node does; every host runs
	// the L3, metadata and L2 agents and maps physnet "external" (the
	// computes' fg- ports need it).
	DHCPAgent bool `json:"dhcp_agent"`
}

// MaxNetworkNodes bounds --network-nodes (tunnel addresses 10.0.1.11..).
const MaxNetworkNodes = 9

// Hosts returns network1..networkNodes (0 counts as 1) and
// compute1..computes. Only network1 runs a DHCP agent.
func Hosts(networkNodes, computes int) []Host {
	hs := []Host{{Name: NodeNetwork1, Mode: ModeDVRSNAT, TunnelIP: netip.MustParseAddr("10.0.1.11"), DHCPAgent: true}}
	for i := 2; i <= networkNodes; i++ {
		hs = append(hs, Host{Name: "network" + strconv.Itoa(i), Mode: ModeDVRSNAT, TunnelIP: netip.AddrFrom4([4]byte{10, 0, 1, byte(10 + i)})})
	}
	for i := 1; i <= computes; i++ {
		hs = append(hs, Host{
			Name:     "compute" + strconv.Itoa(i),
			Mode:     ModeDVR,
			TunnelIP: netip.AddrFrom4([4]byte{10, 0, 1, byte(20 + i)}),
		})
	}
	return hs
}

var (
	prefixRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)
	// kernelNameRE: instance names used as they are in the namespace
	// name; any other name is hashed there.
	kernelNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$`)
)

// MaxInstanceName is Nova's limit on a server name (characters).
const MaxInstanceName = 255

// ValidatePrefix checks a sandbox prefix. Hyphens are refused so that
// "<p>-" never matches another sandbox's names.
func ValidatePrefix(p string) error {
	if !prefixRE.MatchString(p) {
		return fmt.Errorf("invalid prefix %q: want a lower-case letter then up to 11 letters or digits", p)
	}
	return nil
}

// ValidateInstanceName checks an instance name as Nova checks a server
// name: 1 to 255 printable characters, no leading or trailing white
// space. The namespace name is derived from it safely (InstanceNS).
func ValidateInstanceName(n string) error {
	switch {
	case !utf8.ValidString(n):
		return fmt.Errorf("invalid instance name %q: not UTF-8", n)
	case n == "" || utf8.RuneCountInString(n) > MaxInstanceName:
		return fmt.Errorf("invalid instance name %q: want 1 to %d characters", n, MaxInstanceName)
	case strings.TrimSpace(n) != n:
		return fmt.Errorf("invalid instance name %q: leading or trailing white space", n)
	case strings.IndexFunc(n, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("invalid instance name %q: want printable characters", n)
	}
	if isNodeName(n) {
		return fmt.Errorf("invalid instance name %q: it names a sandbox node", n)
	}
	return nil
}

func isNodeName(n string) bool {
	switch n {
	case NodeFabric, NodeUpstream, NodeInternet, NodeNetwork1:
		return true
	}
	if rest, ok := strings.CutPrefix(n, "compute"); ok {
		if _, err := strconv.Atoi(rest); err == nil {
			return true
		}
	}
	return false
}

// NodeNS is the namespace of a node (fabric, a host, upstream, internet).
func NodeNS(prefix, node string) string { return prefix + "-" + node }

// InstanceNS is the namespace of an instance: <prefix>-vm-NAME when the
// name is short and made of letters, digits, '-', '_' and '.', so that
// `ip netns` shows what the user typed; otherwise (too long for a
// readable name, or characters such as '/' or spaces that a namespace
// name cannot hold or a shell would mangle) <prefix>-vmh-<hash>. The
// two forms cannot meet ("-vm-" vs "-vmh-"); Boot refuses a name whose
// hash another instance's name already has.
func InstanceNS(prefix, name string) string {
	if kernelNameRE.MatchString(name) {
		return prefix + "-vm-" + name
	}
	sum := sha256.Sum256([]byte(name))
	return prefix + "-vmh-" + hex.EncodeToString(sum[:8])
}

// AgentSuffix is the namespace suffix the agent of host uses.
func AgentSuffix(prefix, host string) string { return "@" + prefix + "-" + host }

// Owned reports whether the namespace name belongs to the sandbox with
// this prefix: one of its nodes or instances, or a namespace one of its
// agents made.
func Owned(prefix, ns string) bool {
	return strings.HasPrefix(ns, prefix+"-") || strings.Contains(ns, "@"+prefix+"-")
}

// TapName is the host end of an instance port, as Nova/os-vif name it.
func TapName(portID string) string {
	if len(portID) > 11 {
		portID = portID[:11]
	}
	return "tap" + portID
}

// fabricPort names the fabric end of a node's link to a bridge.
func fabricPort(bridge, node string) string {
	if bridge == BridgeTunnel {
		return "t-" + node
	}
	return "x-" + node
}
