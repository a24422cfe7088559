// Package names builds and parses every kernel name the agent uses, as
// upstream Neutron names them, in one place. Device names are at most 15
// characters (IFNAMSIZ-1); namespace names carry the agent's optional
// suffix ("@compute1" in the sandbox, empty in production) so that
// several simulated hosts can share one machine and each agent only ever
// touches namespaces carrying its own suffix.
package names

import (
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
