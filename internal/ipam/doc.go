// Package ipam owns Neutrino's pure IP-address-management computations:
// subnet CIDR, gateway, allocation-pool and fixed-IP validation (fact sheet
// §4.1), default gateway and allocation pools, the address picking order of
// Neutron's internal IPAM driver (§4.2), MAC address generation from
// base_mac (§4.3), EUI-64 (SLAAC) addresses, and parsing and picking of
// VLAN/VXLAN/GRE segmentation ids.
//
// Everything here is a pure function of its arguments: no I/O, no store,
// no global state except the default random source. The store layer holds
// the set of allocated addresses / MACs / segment ids, passes a "used"
// predicate in (or, for addresses, an ordered AddrSet, which PickSet
// counts in instead of walking), and claims the picked value in an etcd
// transaction (retrying with a fresh pick when it loses a race).
//
// Addresses and prefixes are netip.Addr and netip.Prefix throughout. An
// IPv4-mapped IPv6 address (::ffff:a.b.c.d) is treated as IPv6.
//
// Validation failures are returned as typed errors implementing Error, so
// the API layer can map them to Neutron's error body: Type() is the
// Neutron exception class name (NeutronError.type), Status() the HTTP
// status and Message() the full upstream message (NeutronError.message).
//
// Functions taking a random source accept func(n int) int returning a
// uniform value in [0, n) — for example (*rand.Rand).IntN from
// math/rand/v2. A nil source means math/rand/v2's global IntN.
package ipam
