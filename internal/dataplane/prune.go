package dataplane

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/dataplane/nft"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
)

// prune deletes what is ours and no longer desired: namespaces of this
// agent, bridges and their tunnel ports (VXLAN devices, GRE taps, VLAN
// sub-interfaces), in reverse order of creation. links is a dump of the
// host's links taken during this apply (nil: dump them).
func prune(nl *netlink.Handle, res *Result, h *desired.Host, opts Options, links []netlink.Link) error {
	var errs []error
	if opts.OwnsNamespace != nil {
		all, err := netns.List()
		errs = append(errs, err)
		for _, name := range all {
			if !opts.OwnsNamespace(name) || slices.ContainsFunc(h.Namespaces, func(n desired.Namespace) bool { return n.Name == name }) {
				continue
			}
			if h, err := netns.Open(name); err == nil {
				nft.Close(h) // its pooled socket would keep the namespace alive
				forgetSysctlDirs(h)
				h.Close()
			}
			// Unplug first, as upstream does: a namespace's devices live
			// on until the kernel's cleanup of the namespace runs, which
			// waits for every reference (a listener, a socket of an
			// in-flight GARP) and is batched; meanwhile a router would
			// keep forwarding and answering for its floating IPs.
			errs = append(errs, unplugNamespace(res, name))
			if err := netns.Delete(name); err != nil {
				errs = append(errs, err)
				continue
			}
			forgetAnnounced(name)
			res.did("delete netns %s", name)
		}
	}
	if links == nil {
		var err error
		if links, err = dump(nl.LinkList); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	wantLink := map[string]bool{}
	for _, b := range h.Bridges {
		wantLink[b.Name] = true
	}
	for _, v := range h.VXLANs {
		wantLink[v.Name] = true
	}
	for _, v := range h.VLANs {
		wantLink[v.Name] = true
	}
	for _, g := range h.GRETaps {
		wantLink[g.Name] = true
	}
	for _, p := range h.BridgePorts {
		wantLink[p.Name] = true
	}
	for _, ns := range h.Namespaces {
		for _, v := range ns.Veths {
			wantLink[v.Outer] = true
		}
	}
	bridges := map[int]bool{}
	for _, l := range links {
		if l.Type() == "bridge" && strings.HasPrefix(l.Attrs().Name, "brq") {
			bridges[l.Attrs().Index] = true
		}
	}
	// Tunnel ports first, then bridges.
	for _, pass := range []string{"tunnel", "vxlan-", "brq"} {
		for _, l := range links {
			name := l.Attrs().Name
			if wantLink[name] {
				continue
			}
			if pass == "tunnel" && !prunableTunnel(l, bridges) || pass != "tunnel" && !strings.HasPrefix(name, pass) {
				continue
			}
			if err := nl.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
				continue
			}
			res.did("delete link %s", name)
		}
	}
	return errors.Join(errs...)
}

// unplugNamespace deletes the veth pairs of a namespace about to go.
func unplugNamespace(res *Result, name string) error {
	inner, nsh, err := netns.Netlink(name)
	if err != nil {
		return nil // gone already, or a leftover file that netns.Delete removes
	}
	defer nsh.Close()
	defer inner.Close()
	return pruneVeths(inner, res, desired.Namespace{Name: name}, nil)
}
