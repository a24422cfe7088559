// Package kernelfeat finds out which link kinds the running kernel can
// make that not every kernel has: 802.1Q VLAN sub-interfaces (8021q) and
// GRE taps (ip_gre). The agent probes once at start; networks needing a
// missing one are not plugged (their ports' binding fails), and tests
// that need one skip, naming it.
package kernelfeat

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Features is what the probe found: a nil error means the kernel makes
// the link kind; Missing tells a missing module from another failure.
type Features struct {
	VLAN error
	GRE  error
}

// What each feature is called in messages.
const (
	VLANName = "802.1Q VLAN (8021q module)"
	GREName  = "GRE taps (ip_gre module)"
)

// Missing reports whether an error of creating a link says that the
// kernel lacks the link kind: without the module (and without a way to
// load it) rtnetlink answers EOPNOTSUPP, which ip(8) prints as "Unknown
// device type".
func Missing(err error) bool {
	return err != nil && (errors.Is(err, unix.EOPNOTSUPP) || strings.Contains(strings.ToLower(err.Error()), "unknown device type"))
}

// Probe creates, in the calling thread's network namespace, a throwaway
// VLAN on a throwaway veth and a throwaway GRE tap, and deletes them.
// Their names are random and fit 15 characters.
func Probe() Features {
	nl, err := netlink.NewHandle()
	if err != nil {
		return Features{VLAN: err, GRE: err}
	}
	defer nl.Close()
	tag := randomTag()
	return Features{VLAN: probeVLAN(nl, tag), GRE: probeGRE(nl, tag)}
}

func randomTag() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func probeVLAN(nl *netlink.Handle, tag string) error {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "nkp" + tag + "a"}, PeerName: "nkp" + tag + "b"}
	if err := nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("probe veth: %w", err)
	}
	defer func() {
		if l, err := nl.LinkByName(veth.Name); err == nil {
			nl.LinkDel(l) // takes its peer and the VLAN with it
		}
	}()
	parent, err := nl.LinkByName(veth.Name)
	if err != nil {
		return err
	}
	v := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: "nkp" + tag + "v", ParentIndex: parent.Attrs().Index}, VlanId: 4094}
	if err := nl.LinkAdd(v); err != nil {
		return fmt.Errorf("probe vlan: %w", err)
	}
	return nil
}

func probeGRE(nl *netlink.Handle, tag string) error {
	g := &netlink.Gretap{LinkAttrs: netlink.LinkAttrs{Name: "nkp" + tag + "g"}, IKey: 1, OKey: 1, PMtuDisc: 1,
		Local: net.ParseIP("192.0.2.1"), Remote: net.ParseIP("192.0.2.2")}
	if err := nl.LinkAdd(g); err != nil {
		return fmt.Errorf("probe gretap: %w", err)
	}
	if l, err := nl.LinkByName(g.Name); err == nil {
		nl.LinkDel(l)
	}
	return nil
}
