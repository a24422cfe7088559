// Package names builds and parses every kernel name the agent uses, as
// upstream Neutron names them, in one place. Device names are at most 15
// characters (IFNAMSIZ-1); namespace names carry the agent's optional
// suffix ("@compute1" in the sandbox, empty in production) so that
// several simulated hosts can share one machine and each agent only ever
// touches namespaces carrying its own suffix.
package names

import (
	"crypto/sha1"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
)

// Namespace prefixes.
const (
	PrefixRouter = "qrouter-"
	PrefixDHCP   = "qdhcp-"
	PrefixFIP    = "fip-"
	PrefixSNAT   = "snat-"
)

// devLen is how many characters of a port id follow a device prefix
// (upstream: 14-char names, e.g. "tap" + 11, "qr-" + 11).
const devLen = 11

func short(id string) string {
	if len(id) > devLen {
		return id[:devLen]
	}
	return id
}

// Tap is an instance's (or DHCP port's) host-side device.
func Tap(portID string) string { return "tap" + short(portID) }

// DHCPInner is the DHCP port's device inside its qdhcp namespace.
func DHCPInner(portID string) string { return "ns-" + short(portID) }

// RouterInterface is a router's internal device (qr-).
func RouterInterface(portID string) string { return "qr-" + short(portID) }

// RouterGateway is a router's external device (qg-).
func RouterGateway(portID string) string { return "qg-" + short(portID) }

// SNATInterface is a DVR SNAT port's device (sg-).
func SNATInterface(portID string) string { return "sg-" + short(portID) }

// FIPGateway is the fip namespace's external device (fg-).
func FIPGateway(portID string) string { return "fg-" + short(portID) }

// RouterToFIP is a DVR router's end (rfp-, in qrouter-) of its link to
// the host's fip namespace; the ids of routers, not ports, name it.
func RouterToFIP(routerID string) string { return "rfp-" + short(routerID) }

// FIPToRouter is the fip namespace's end (fpr-) of that link.
func FIPToRouter(routerID string) string { return "fpr-" + short(routerID) }

// Bridge is a network's Linux bridge (upstream linuxbridge: "brq" + 11).
func Bridge(networkID string) string { return "brq" + short(networkID) }

// VXLAN is a network's VXLAN device (upstream linuxbridge: "vxlan-<vni>").
func VXLAN(vni int) string { return "vxlan-" + strconv.Itoa(vni) }

// maxDev is the longest device name the kernel takes (IFNAMSIZ-1).
const maxDev = 15

// hashLen is how many hex digits of a SHA-1 stand for a name too long
// to keep (upstream's INTERFACE_HASH_LEN).
const hashLen = 6

// VLANSub is the 802.1Q sub-interface of a physical interface for a VLAN
// id, as upstream's linuxbridge agent names it (get_subinterface_name):
// "<dev>.<vid>", or, when that is longer than 15 characters, the
// device's name cut short and followed by 6 hex digits of its SHA-1, so
// that two long interface names sharing a prefix stay apart.
func VLANSub(dev string, vid int) string {
	post := "." + strconv.Itoa(vid)
	if len(dev)+len(post) <= maxDev {
		return dev + post
	}
	sum := sha1.Sum([]byte(dev))
	keep := maxDev - len(post) - hashLen
	return dev[:keep] + hex.EncodeToString(sum[:])[:hashLen] + post
}

// VLANSubPrefixes are the name prefixes (each ending in ".") of dev's
// VLAN sub-interfaces, one per VLAN id length that yields a different
// prefix (a hashed name's prefix depends on the id's length): nftables
// matches "prefix*" on them.
func VLANSubPrefixes(dev string) []string {
	var out []string
	for _, vid := range []int{1, 10, 100, 1000} {
		name := VLANSub(dev, vid)
		pre := name[:len(name)-len(strconv.Itoa(vid))]
		if len(out) == 0 || out[len(out)-1] != pre {
			out = append(out, pre)
		}
	}
	return out
}

// PrefixGRE starts the name of every GRE tap device of the agent.
const PrefixGRE = "gre-"

// GRE is the gretap device of a GRE network (its segmentation id, the
// tunnel key) towards one remote host: upstream's linuxbridge had no
// GRE, and a tunnel per (key, remote) does not fit "gre-<key>-<ip>" in
// 15 characters, so "gre-" and 11 hex digits of a SHA-1 of both.
func GRE(key int, remote netip.Addr) string {
	sum := sha1.Sum([]byte(strconv.Itoa(key) + "/" + remote.String()))
	return PrefixGRE + hex.EncodeToString(sum[:])[:devLen]
}

// GREAny is the receive tap of a GRE network (remote any, see
// desired.GRETap): named as GRE's taps, from the key alone.
func GREAny(key int) string {
	sum := sha1.Sum([]byte(strconv.Itoa(key) + "/any"))
	return PrefixGRE + hex.EncodeToString(sum[:])[:devLen]
}

// Namespaces builds and parses namespace names with one agent's suffix.
type Namespaces struct{ Suffix string }

// Build returns prefix+id+suffix, e.g. "qrouter-<id>@compute1".
func (n Namespaces) Build(prefix, id string) string { return prefix + id + n.Suffix }

// Parse returns the prefix and id of a namespace of this agent; ok is
// false for anything else (other agents' namespaces included).
func (n Namespaces) Parse(name string) (prefix, id string, ok bool) {
	rest, found := strings.CutSuffix(name, n.Suffix)
	if !found {
		return "", "", false
	}
	if n.Suffix == "" && strings.Contains(rest, "@") {
		return "", "", false
	}
	for _, p := range []string{PrefixRouter, PrefixDHCP, PrefixFIP, PrefixSNAT} {
		if id, ok := strings.CutPrefix(rest, p); ok && id != "" {
			return p, id, true
		}
	}
	return "", "", false
}
