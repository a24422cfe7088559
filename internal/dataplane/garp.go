package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/packet"
	"github.com/neutrino-net/neutrino/internal/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// GARPInterval is the pause between two rounds of SendGARP (Neutron
// sends its rounds 2 s apart from a background thread; callers that do
// not want to block run SendGARP in a goroutine).
var GARPInterval = time.Second

// SendGARP announces addr on dev in namespace ns with count rounds of
// gratuitous ARP, GARPInterval apart. Each round sends the request form
// that Habets `arping -U` sends (op 1, sender = target = addr, target
// MAC ff:ff:ff:ff:ff:ff; KERNEL.md check 3.10) and the reply form of
// `arping -A` (op 2, target MAC = our MAC), both to the broadcast
// address from the device's MAC. Linux neighbours update an existing
// entry from either form even with arp_accept=0.
//
// The AF_PACKET socket is opened inside the namespace on a locked thread
// (netns.RunIn) and keeps that namespace, so the frames are written from this
// goroutine afterwards.
func SendGARP(ns netns.Handle, dev string, addr netip.Addr, count int) error {
	return SendGARPFor(ns, dev, addr, nil, count)
}

// SendGARPFor is SendGARP on behalf of another host: the ARP sender
// address is mac (nil: dev's own). A bridge that answers ARP for remote
// ports (neigh_suppress) uses it to announce a changed answer to its
// local ports.
func SendGARPFor(ns netns.Handle, dev string, addr netip.Addr, mac net.HardwareAddr, count int) error {
	if !addr.Is4() {
		return fmt.Errorf("garp %s on %s: not an IPv4 address", addr, dev)
	}
	if count < 1 {
		count = 1
	}
	var conn *packet.Conn
	err := netns.RunIn(ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		if len(ifi.HardwareAddr) != 6 {
			return fmt.Errorf("%s has no Ethernet address", dev)
		}
		if mac == nil {
			mac = ifi.HardwareAddr
		}
		if len(mac) != 6 {
			return fmt.Errorf("sender %s is no Ethernet address", mac)
		}
		// Datagram socket: the kernel writes the Ethernet header (source
		// = the device's MAC). The filter accepts nothing, so no ARP
		// traffic queues up on a socket that only sends.
		conn, err = packet.Listen(ifi, packet.Datagram, unix.ETH_P_ARP,
			&packet.Config{Filter: []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: 0}}})
		return err
	})
	if err != nil {
		return fmt.Errorf("garp %s on %s: %w", addr, dev, err)
	}
	defer conn.Close()
	bcast := &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	var errs []error
	for i := range count {
		if i > 0 {
			time.Sleep(GARPInterval)
		}
		for _, frame := range [][]byte{
			arpBody(1, mac, addr, bcast.HardwareAddr),
			arpBody(2, mac, addr, mac),
		} {
			if _, err := conn.WriteTo(frame, bcast); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("garp %s on %s: %w", addr, dev, err)
	}
	return nil
}

// arpBody builds the 28-byte Ethernet/IPv4 ARP packet of RFC 826 with
// sender = target = addr (a gratuitous ARP).
//
// Built by hand on purpose: github.com/mdlayher/arp (the well-kept
// library for this) cannot be fetched from this project's module proxy,
// and the layout is fixed: htype, ptype, hlen, plen, op, then sender and
// target hardware/protocol addresses. The Ethernet header is not built
// here: the SOCK_DGRAM packet socket (mdlayher/packet) adds it.
func arpBody(op uint16, sender net.HardwareAddr, addr netip.Addr, targetMAC net.HardwareAddr) []byte {
	b := make([]byte, 0, 28)
	b = binary.BigEndian.AppendUint16(b, 1)      // htype Ethernet
	b = binary.BigEndian.AppendUint16(b, 0x0800) // ptype IPv4
	b = append(b, 6, 4)                          // hlen, plen
	b = binary.BigEndian.AppendUint16(b, op)
	ip := addr.As4()
	b = append(b, sender...)
	b = append(b, ip[:]...)
	b = append(b, targetMAC...)
	b = append(b, ip[:]...)
	return b
}
