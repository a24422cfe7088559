// Package probe is the testbed's kernel-facing toolbox, usable without
// the testing package (the e2e tests and the benchmarks share it): it
// opens sockets inside a named network namespace and then uses them from
// any goroutine (ICMP pingers, TCP banner servers and clients, ARP
// requests, packet captures), and reads kernel state of a namespace
// through netlink handles bound to it (FDB, neighbours, link counters);
// it also parses the agents' slog lines.
//
// No caller's goroutine ever switches its thread's namespace: sockets are
// created through internal/netns, on a fresh locked thread.
package probe

import (
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
)

// NetnsDir is where named network namespaces live.
const NetnsDir = netns.Dir

// Path is the path of a named namespace.
func Path(ns string) string { return netns.Path(ns) }

// In runs fn on a fresh OS thread inside the named namespace. What fn
// opens keeps the namespace and may be used from any goroutine.
func In(ns string, fn func() error) error { return netns.In(ns, fn) }

// Handle returns a netlink handle bound to the named namespace.
func Handle(ns string) (*netlink.Handle, error) { return netns.NetlinkAt(ns) }

// CreateNS makes a persistent named namespace with lo up; it fails if
// the name is taken.
func CreateNS(name string) error { return netns.CreateNew(name) }

// DeleteNS removes a named namespace; a missing one is no error.
func DeleteNS(name string) error { return netns.Delete(name) }
