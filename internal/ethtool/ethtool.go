// Package ethtool reads and changes a device's offload features (what
// `ethtool -k` / `ethtool -K` show and set) through the kernel's ethtool
// generic-netlink family, in a given network namespace. The data plane
// uses it to turn on GRO on the veth ends that receive tunnelled or
// routed traffic (see docs/performance.md): no ethtool binary is needed,
// and the project never shells out.
package ethtool

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Generic netlink controller constants (linux/genetlink.h).
const (
	genlIDCtrl         = 0x10
	ctrlCmdGetFamily   = 3
	ctrlAttrFamilyID   = 1
	ctrlAttrFamilyName = 2
)

// Conn is a generic-netlink socket in one namespace with the ethtool
// family resolved.
type Conn struct {
	c      *netlink.Conn
	family netlink.HeaderType
}

// Dial opens a socket in the namespace at nsPath ("" = the caller's).
func Dial(nsPath string) (*Conn, error) {
	cfg := &netlink.Config{}
	if nsPath != "" {
		f, err := os.Open(nsPath)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cfg.NetNS = int(f.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_GENERIC, cfg)
	if err != nil {
		return nil, fmt.Errorf("ethtool: generic netlink: %w", err)
	}
	fam, err := familyID(c, unix.ETHTOOL_GENL_NAME)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &Conn{c: c, family: fam}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return c.c.Close() }

// genl wraps attributes in a generic-netlink header.
func genl(cmd, version uint8, attrs []byte) []byte {
	b := make([]byte, 4, 4+len(attrs))
	b[0], b[1] = cmd, version
	return append(b, attrs...)
}

func familyID(c *netlink.Conn, name string) (netlink.HeaderType, error) {
	ae := netlink.NewAttributeEncoder()
	ae.String(ctrlAttrFamilyName, name)
	attrs, err := ae.Encode()
	if err != nil {
		return 0, err
	}
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: genlIDCtrl, Flags: netlink.Request},
		Data:   genl(ctrlCmdGetFamily, 1, attrs),
	})
	if err != nil {
		return 0, fmt.Errorf("ethtool: resolve genetlink family %q: %w", name, err)
	}
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, err
		}
		for ad.Next() {
			if ad.Type() == ctrlAttrFamilyID {
				return netlink.HeaderType(ad.Uint16()), nil
			}
		}
	}
	return 0, fmt.Errorf("ethtool: genetlink family %q not found", name)
}

// header encodes ETHTOOL_A_*_HEADER naming the device (verbose bitsets:
// the kernel then sends feature names, not bare bit numbers).
func header(ae *netlink.AttributeEncoder, typ uint16, dev string, flags uint32) {
	ae.Nested(typ, func(nae *netlink.AttributeEncoder) error {
		nae.String(unix.ETHTOOL_A_HEADER_DEV_NAME, dev)
		if flags != 0 {
			nae.Uint32(unix.ETHTOOL_A_HEADER_FLAGS, flags)
		}
		return nil
	})
}

// Features is the state of a device's features by ethtool name
// ("generic-receive-offload", "rx-udp-gro-forwarding", ...).
type Features struct {
	Active   map[string]bool // feature on
	Fixed    map[string]bool // feature the driver does not let change
	Settable []string        // names that can be changed, sorted
}

// Get reads dev's features.
func (c *Conn) Get(dev string) (Features, error) {
	ae := netlink.NewAttributeEncoder()
	header(ae, unix.ETHTOOL_A_FEATURES_HEADER, dev, 0)
	attrs, err := ae.Encode()
	if err != nil {
		return Features{}, err
	}
	msgs, err := c.c.Execute(netlink.Message{
		Header: netlink.Header{Type: c.family, Flags: netlink.Request},
		Data:   genl(unix.ETHTOOL_MSG_FEATURES_GET, unix.ETHTOOL_GENL_VERSION, attrs),
	})
	if err != nil {
		return Features{}, fmt.Errorf("ethtool: features of %s: %w", dev, err)
	}
	f := Features{Active: map[string]bool{}, Fixed: map[string]bool{}}
	hw := map[string]bool{}
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return Features{}, err
		}
		for ad.Next() {
			switch ad.Type() {
			case unix.ETHTOOL_A_FEATURES_ACTIVE:
				ad.Nested(bitsInto(f.Active))
			case unix.ETHTOOL_A_FEATURES_NOCHANGE:
				ad.Nested(bitsInto(f.Fixed))
			case unix.ETHTOOL_A_FEATURES_HW:
				ad.Nested(bitsInto(hw))
			}
		}
		if err := ad.Err(); err != nil {
			return Features{}, err
		}
	}
	for n := range hw {
		if n != "" && !f.Fixed[n] {
			f.Settable = append(f.Settable, n)
		}
	}
	sort.Strings(f.Settable)
	return f, nil
}

// bitsInto decodes a verbose bitset sent without a mask (the kernel's
// form for a list): every bit present is set.
func bitsInto(set map[string]bool) func(*netlink.AttributeDecoder) error {
	return func(ad *netlink.AttributeDecoder) error {
		for ad.Next() {
			if ad.Type() != unix.ETHTOOL_A_BITSET_BITS {
				continue
			}
			ad.Nested(func(bits *netlink.AttributeDecoder) error {
				for bits.Next() {
					bits.Nested(func(bit *netlink.AttributeDecoder) error {
						for bit.Next() {
							if bit.Type() == unix.ETHTOOL_A_BITSET_BIT_NAME {
								set[bit.String()] = true
							}
						}
						return nil
					})
				}
				return nil
			})
		}
		return nil
	}
}

// ErrNotChanged says the kernel kept a feature at another value than
// asked (a fixed feature, or one that depends on another).
var ErrNotChanged = errors.New("feature not changed")

// Set turns the named features on or off and leaves the others as they
// are. It reads them back: a feature left at another value is an error
// wrapping ErrNotChanged.
func (c *Conn) Set(dev string, want map[string]bool) error {
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	ae := netlink.NewAttributeEncoder()
	// No reply message, only the ACK: Execute reads one answer.
	header(ae, unix.ETHTOOL_A_FEATURES_HEADER, dev, unix.ETHTOOL_FLAG_OMIT_REPLY)
	ae.Nested(unix.ETHTOOL_A_FEATURES_WANTED, func(bs *netlink.AttributeEncoder) error {
		bs.Nested(unix.ETHTOOL_A_BITSET_BITS, func(bits *netlink.AttributeEncoder) error {
			for _, n := range names {
				bits.Nested(unix.ETHTOOL_A_BITSET_BITS_BIT, func(bit *netlink.AttributeEncoder) error {
					bit.String(unix.ETHTOOL_A_BITSET_BIT_NAME, n)
					if want[n] {
						bit.Flag(unix.ETHTOOL_A_BITSET_BIT_VALUE, true)
					}
					return nil
				})
			}
			return nil
		})
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	if _, err := c.c.Execute(netlink.Message{
		Header: netlink.Header{Type: c.family, Flags: netlink.Request | netlink.Acknowledge},
		Data:   genl(unix.ETHTOOL_MSG_FEATURES_SET, unix.ETHTOOL_GENL_VERSION, attrs),
	}); err != nil {
		return fmt.Errorf("ethtool: set features of %s: %w", dev, err)
	}
	got, err := c.Get(dev)
	if err != nil {
		return err
	}
	for _, n := range names {
		if got.Active[n] != want[n] {
			return fmt.Errorf("ethtool: %s %s: still %v: %w", dev, n, got.Active[n], ErrNotChanged)
		}
	}
	return nil
}
