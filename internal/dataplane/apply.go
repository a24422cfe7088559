// Package dataplane is the only code that changes the kernel: it reads
// the host's actual state back through netlink and changes only what
// differs from the desired state (internal/desired). Every change is
// idempotent: EEXIST/ENOENT mean "already so". It owns only what carries
// its names: bridges "brq*", VXLAN devices "vxlan-*", GRE taps "gre-*",
// VLAN sub-interfaces in its bridges, namespaces of its agent's suffix,
// and the entries it put on those devices.
//
// The files follow the kernel's tables: links.go (bridges, VXLAN
// devices, bridge ports, veth pairs), tunnels.go (VLAN sub-interfaces,
// GRE taps), addrs.go, routes.go (routes in any
// table and ip rules), neigh.go (FDB and neighbours), namespace.go (one
// agent namespace: sysctls, nftables through package nft, links, routes),
// sysctl.go (global keys first, per-device keys once their devices
// exist) and prune.go (what is ours and no longer desired). The host
// namespace's own nftables tables (Host.Nft) are applied by Apply.
package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/neutrino-net/neutrino/internal/dataplane/nft"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
)

// Options say what apply may do beyond adding.
type Options struct {
	// Prune allows deleting what is ours but not desired. It must stay
	// false until the agent's model has its first full view, or a
	// restarting agent would tear down live traffic.
	Prune bool
	// OwnsNamespace reports whether a namespace name is this agent's.
	OwnsNamespace func(name string) bool
	// Hold reports whether a desired namespace is to be left as it is
	// this time (it failed and waits for its retry): it is neither
	// changed nor pruned.
	Hold func(name string) bool
	// First names namespaces the caller expects changed (the planner
	// replanned them): with a Memory, those that did change are applied
	// before the others are compared, where the order cannot matter (see
	// applyFirst). The outcome is the same; a change's namespace just
	// does not wait for the comparison of every other.
	First []string
	// Memory, when set, makes the apply incremental: a namespace whose
	// desired state (with the peer ends and neighbours it holds) is the
	// one of its last clean apply recorded there is left alone
	// (NamespaceResult.Unchanged), and so are the host namespace's own
	// parts when they are (Result.HostSkipped). What applies cleanly is
	// recorded; what fails is forgotten (see incremental.go).
	Memory *Memory
	// Verify names unchanged namespaces to reconcile all the same (a
	// check for drift), after the changed ones.
	Verify func(name string) bool
	// Stop is asked before each namespace: true ends the apply there
	// (the agent is stopping). The namespaces not reached are Deferred,
	// the host's parts after them are not applied, and Apply returns
	// ErrStopped.
	Stop func() bool
	// Workers is how many namespaces are applied side by side (0: one
	// at a time). Pair owners (DVR's qrouter- with its rfp-/fpr- pair)
	// are applied first, one at a time, and verifications too.
	Workers int
	// VerifyHost reconciles the host namespace's own parts even when
	// Memory has them unchanged (a check for drift). Unlike a change, the
	// check yields: it is not begun, and its FDB, neighbours and pruning
	// after the namespaces are left out, when Yield says so.
	VerifyHost bool
	// Yield is asked before each verification: true leaves the
	// remaining ones for later (a change waits to be applied).
	Yield func() bool
}

// Result reports what an apply did.
type Result struct {
	Changes []string        // one line per kernel change, for logs
	Plugged map[string]bool // port id -> its device is in place and up
	// HostErr is the error of what is not in an agent namespace (the
	// host namespace's links, FDB, neighbours, pruning); namespace errors
	// are in Namespaces.
	HostErr error
	// Namespaces are the structured results per agent namespace.
	Namespaces map[string]*NamespaceResult
	// HostSkipped is set when the host namespace's own parts were
	// unchanged since the Memory's last apply and left alone.
	HostSkipped bool
	// Stopped is set when Options.Stop ended the apply early.
	Stopped bool
	// NeighsSet are the permanent neighbour entries on the host's bridges
	// (ARP responder) this apply added or whose MAC it changed; each is
	// announced on its bridge (see applyNeighs).
	NeighsSet []desired.Neigh

	// announcements start once the whole apply is done: a GARP sent
	// before the FDB flood entries of a just-created VXLAN device exist
	// reaches nobody beyond this host, and the next round comes only
	// GARPInterval later.
	announcements []func(host netns.Handle)
	// vethsAdded counts the veth pairs made (their outer ends' FDB
	// entries are the host's to restore).
	vethsAdded int
}

// Touched reports whether the apply reconciled namespace name (changed,
// verified or new), rather than leaving it alone (unchanged or held).
func (r *Result) Touched(name string) bool {
	nr := r.Namespaces[name]
	return nr != nil && !nr.Unchanged && !nr.Held
}

// NamespaceResult is what an apply did in one agent namespace.
type NamespaceResult struct {
	Created bool
	// Added are the addresses this apply put on the namespace's devices
	// (the ones in the plan's GARP list are announced).
	Added []netip.Prefix
	// Nft is what the namespace's nftables tables went through; its
	// removed floating IP map keys drive conntrack cleanup.
	Nft *nft.Result
	// ConntrackDeleted counts the conntrack entries deleted for removed
	// floating IPs.
	ConntrackDeleted int
	// Plugged are the ports whose devices in the namespace are in place.
	Plugged []string
	// Held is set when the namespace was left alone (Options.Hold).
	Held bool
	// Unchanged is set when the namespace was left alone because its
	// desired state is the one of its last clean apply (Options.Memory);
	// Plugged is then what that apply plugged.
	Unchanged bool
	// Deferred is set when Options.Stop ended the apply before it.
	Deferred bool
	// Err is the namespace's apply error (nil: converged).
	Err error

	// lateSysctls are per-device sysctls whose device did not exist yet
	// (the outer end of a pair another namespace creates later).
	lateSysctls []desired.Sysctl
}

func (r *Result) did(format string, args ...any) {
	r.Changes = append(r.Changes, fmt.Sprintf(format, args...))
}

// Apply reconciles the host namespace (the one this process runs in) and
// the agent's namespaces to h. Failures of one object are collected and
// the rest still applied; each namespace's own outcome is in
// Result.Namespaces. With Options.Memory, only what changed since its
// last clean apply is reconciled (incremental.go).
func Apply(h *desired.Host, opts Options) (*Result, error) {
	res := &Result{Plugged: map[string]bool{}, Namespaces: make(map[string]*NamespaceResult, len(h.Namespaces))}
	nl, err := netlink.NewHandle()
	if err != nil {
		return res, err
	}
	defer nl.Close()
	var errs, hostErrs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
			hostErrs = append(hostErrs, err)
		}
	}
	mem := opts.Memory
	yield := func() bool { return opts.Yield != nil && opts.Yield() }
	var hostIn *hostInput
	// checkHost: the host's parts are applied only as a drift check.
	doHost, checkHost := true, false
	if mem != nil {
		doHost = !mem.hostUnchanged(h, opts.Prune)
		if !doHost && opts.VerifyHost && !yield() {
			doHost, checkHost = true, true
		}
		if doHost {
			hostIn = hostInputOf(h, opts.Prune) // remembered if clean
		}
	}
	var hostPlugged []string
	var hostLinks []netlink.Link // the host's links, while nothing changed them
	if doHost {
		hostPlugged, hostLinks, err = applyHostLinks(nl, res, h, opts, keep)
		if err != nil {
			return res, err
		}
		// A check that found drift repairs all of it.
		checkHost = checkHost && len(res.Changes) == 0
	} else {
		res.HostSkipped = true
		hostPlugged = mem.host.plugged
	}
	for _, id := range hostPlugged {
		res.Plugged[id] = true
	}
	errs = append(errs, applyNamespaces(nl, res, h, opts)...)
	if !res.Stopped && opts.Stop != nil && opts.Stop() {
		res.Stopped = true // the host's parts below take long on a big node
	}
	if res.Stopped {
		res.HostErr = errors.Join(hostErrs...)
		return res, errors.Join(append(errs, ErrStopped)...)
	}
	late := map[string][]desired.Sysctl{}
	for name, nr := range res.Namespaces {
		if len(nr.lateSysctls) > 0 {
			late[name], nr.lateSysctls = nr.lateSysctls, nil
		}
	}
	if err := applyLateSysctls(res, late); err != nil {
		errs = append(errs, err)
	}
	// A veth pair made anew (its namespace was deleted behind our back)
	// lost the FDB entries on its outer end: the host's lists then too.
	// A check's rest (nothing found so far) waits for the next one when
	// a change is waiting.
	if checkHost && res.vethsAdded == 0 && yield() {
		doHost = false
	} else if doHost || res.vethsAdded > 0 {
		applyHostFDB(nl, res, h, opts, hostLinks, keep)
	}
	startAnnouncements(res.announcements)
	res.announcements = nil
	res.HostErr = errors.Join(hostErrs...)
	if mem != nil {
		remember(mem, h, res, hostIn, hostPlugged, doHost)
	}
	return res, errors.Join(errs...)
}

// applyHostFDB applies the host's FDB entries and bridge neighbours,
// announces the neighbours set, and prunes (opts.Prune). hostLinks is
// the host parts' link dump of this apply (nil: none).
func applyHostFDB(nl *netlink.Handle, res *Result, h *desired.Host, opts Options, hostLinks []netlink.Link, keep func(error)) {
	// One link dump names the ports of both (a lookup per port and
	// per bridge cost a request each: thousands on a network node)
	// and serves pruning too; the host parts' own dump does when
	// this apply has changed nothing (a no-op restart, a drift check
	// that finds none). On a network node a link dump costs links ×
	// namespaces in the kernel (each veth's peer namespace id is
	// found by a walk of the namespace's ids): a second of a drift
	// check at 1,000 routers.
	links := hostLinks
	var derr error
	if links == nil || len(res.Changes) > 0 {
		links, derr = dump(nl.LinkList)
	}
	if derr != nil {
		links = nil
		keep(fmt.Errorf("list links: %w", derr))
	} else {
		byName := indexLinks(links)
		keep(applyFDB(nl, res, h, byName))
		keep(applyNeighs(nl, res, h, byName))
	}
	announceNeighs(res)
	if opts.Prune {
		keep(prune(nl, res, h, opts, links))
	}
}

// ErrStopped is the error of an apply that Options.Stop ended early.
var ErrStopped = errors.New("apply stopped before its end")

// applyHostLinks reconciles the host namespace's own parts that the
// agent namespaces build on: sysctls, bridges, VXLAN devices, nftables
// tables and bridge ports. It returns the ports plugged and the link
// dump it worked from; an error is one that leaves nothing to do (the
// links cannot be listed).
func applyHostLinks(nl *netlink.Handle, res *Result, h *desired.Host, opts Options, keep func(error)) ([]string, []netlink.Link, error) {
	// Conntrack's keys exist only once nf_conntrack is loaded, which the
	// host's tables may do: they are written after those tables.
	var conntrackKeys []desired.Sysctl
	for _, s := range h.Sysctls {
		if strings.HasPrefix(s.Key, "net/netfilter/") {
			conntrackKeys = append(conntrackKeys, s)
			continue
		}
		keep(netns.WriteSysctl(s.Key, s.Value))
	}
	links, err := dump(nl.LinkList)
	if err != nil {
		return nil, nil, fmt.Errorf("list links: %w", err)
	}
	byName := indexLinks(links)
	for _, b := range h.Bridges {
		keep(applyBridge(nl, res, byName, b))
	}
	// One dump of the bridge ports' flags for every VXLAN device (nil on
	// an error: each device is then asked on its own).
	flags, _ := dumpPortFlags()
	vtep := &vtepFinder{nl: nl}
	for _, v := range h.VXLANs {
		keep(applyVXLAN(nl, res, byName, flags, vtep, v))
	}
	for _, v := range h.VLANs {
		keep(applyVLAN(nl, res, byName, v))
	}
	for _, g := range h.GRETaps {
		keep(applyGRETap(nl, res, byName, flags, g))
	}
	// The host's tables before the bridge ports: a tap joins its bridge
	// only once its security group filter is in place (until then its
	// frames would pass as an unfiltered port's), and DVR's rewrite of
	// the gateway MAC must be in place before a qr- port starts routing.
	nftErr := applyHostNft(res, h, opts)
	keep(nftErr)
	for _, s := range conntrackKeys {
		keep(netns.WriteSysctl(s.Key, s.Value))
	}
	// Existing interfaces into their bridges; without the host's tables
	// (an instance tap's filter), a tap not in its bridge yet stays out
	// until a later apply gets them in (fail closed).
	var plugged []string
	for _, p := range h.BridgePorts {
		ok, err := applyBridgePort(nl, res, byName, p, nftErr != nil && p.PortID != "")
		keep(err)
		if ok && p.PortID != "" {
			plugged = append(plugged, p.PortID)
		}
	}
	return plugged, links, nil
}

// applyHostNft reconciles the nftables tables of the namespace Apply
// runs in. Owned tables that are not desired are deleted only when the
// apply may prune: before the first full view the plan may lack them.
func applyHostNft(res *Result, h *desired.Host, opts Options) error {
	if len(h.Nft) == 0 && !opts.Prune {
		return nil
	}
	// A real handle (not "the caller's namespace"), so that the socket
	// is pooled and the state remembered as in the agent's namespaces.
	host, err := netns.Current()
	if err != nil {
		return fmt.Errorf("host nftables: %w", err)
	}
	defer host.Close()
	r, err := nft.ApplyTables(host, h.Nft, opts.Prune)
	for _, c := range r.Lines {
		res.did("%s", c)
	}
	if err != nil {
		return fmt.Errorf("host nftables: %w", err)
	}
	return nil
}

// indexLinks indexes links by name.
func indexLinks(links []netlink.Link) map[string]netlink.Link {
	byName := make(map[string]netlink.Link, len(links))
	for _, l := range links {
		byName[l.Attrs().Name] = l
	}
	return byName
}

func ignoreExist(err error) error {
	if errors.Is(err, syscall.EEXIST) {
		return nil
	}
	return err
}

// dumpAttempts bounds the retries of an interrupted netlink dump.
const dumpAttempts = 5

// dump runs a netlink dump, retrying it when the kernel reports that the
// table changed while it was being dumped (NLM_F_DUMP_INTR, which
// vishvananda/netlink ≥1.3 returns as ErrDumpInterrupted together with
// possibly inconsistent results), as containernetworking's netlinksafe
// does. Acting on an inconsistent dump could delete what exists or add
// what is there.
func dump[T any](fn func() (T, error)) (T, error) {
	var (
		out T
		err error
	)
	for range dumpAttempts {
		out, err = fn()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return out, fmt.Errorf("netlink dump still interrupted after %d attempts: %w", dumpAttempts, err)
}

// dump1 is dump for the dumps that take one argument.
func dump1[A, T any](fn func(A) (T, error), a A) (T, error) {
	return dump(func() (T, error) { return fn(a) })
}

// dump2 is dump for the dumps that take two arguments.
func dump2[A, B, T any](fn func(A, B) (T, error), a A, b B) (T, error) {
	return dump(func() (T, error) { return fn(a, b) })
}
