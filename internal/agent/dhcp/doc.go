// Package dhcp is the agent's DHCP role: an IPv4 DHCP server run
// in-process, one socket per qdhcp- namespace, replacing the dnsmasq per
// network that upstream Neutron runs.
//
// It has two halves:
//
//   - [Reply] is pure: given what the agent knows about a network
//     ([Network]) and a request, it returns the reply dnsmasq would give
//     under Neutron's configuration (static leases only, options as
//     neutron/agent/linux/dhcp.py writes them). No I/O; unit-tested from
//     built packets.
//   - [Server] opens a UDP socket on port 67 inside each namespace, bound to
//     the namespace's DHCP port (tap/ns- device), and answers from any
//     goroutine with Reply on the network returned by a getter, so port
//     changes take effect on the next packet without a restart.
//
// Invariants:
//
//   - Unknown MACs get no reply (dnsmasq runs with static hosts only), so
//     two agents serving one network never hand out conflicting answers.
//   - The socket is opened inside the namespace on a locked thread and then
//     used from ordinary goroutines (see internal/nsthread); no goroutine
//     that serves ever changes namespace.
//   - A socket holds its namespace alive: stop serving a namespace
//     ([Server.Stop]) before deleting it.
package dhcp
