package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"

	"github.com/neutrino-net/neutrino/internal/netns"
)

// Server answers DHCP in many namespaces at once: one UDP socket per
// namespace, opened inside it and bound to its DHCP port device, each
// served by its own goroutine. The zero value is ready to use.
//
// Replies go to 255.255.255.255:68 out of the bound device unless the
// client has an address (ciaddr: unicast to it) or came through a relay
// (giaddr: to the relay's port 67). RFC 2131 prefers unicasting to a
// client that has no address yet when it did not ask for broadcast, but
// that needs a hand-made ARP entry; broadcasting is allowed and every
// client accepts it.
type Server struct {
	// Log receives one line per start/stop and per failed reply; packet
	// details at debug level. Nil means slog.Default().
	Log *slog.Logger

	mu    sync.Mutex
	bound map[string]*binding // by nsPath
}

type binding struct {
	nsPath, ifName string
	nsID           string // device:inode of the namespace the socket lives in
	conn           *net.UDPConn
	get            atomic.Pointer[func() *Network]
	done           chan struct{}
}

// Start serves DHCP in the network namespace at nsPath on device ifName
// (which must exist there; it should be up and carry the DHCP port's
// addresses). Each request is answered from the Network get returns at
// that moment (nil: no answer), so the caller swaps in a new Network to
// change leases; get must be safe for concurrent use and cheap.
//
// Start is idempotent: if nsPath is already served on ifName and still
// names the same namespace, it only replaces get. If the namespace was
// recreated or the device changed, the old socket is closed and a new one
// opened.
func (s *Server) Start(nsPath, ifName string, get func() *Network) error {
	if get == nil {
		return errors.New("dhcp: Start with nil get")
	}
	h, err := netns.OpenPath(nsPath)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", nsPath, err)
	}
	defer h.Close()
	id := h.UniqueId()

	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.bound[nsPath]; b != nil {
		if b.nsID == id && b.ifName == ifName {
			b.get.Store(&get)
			return nil
		}
		s.stopLocked(b)
	}

	var conn *net.UDPConn
	err = netns.RunIn(h, func() error {
		var err error
		conn, err = listen(ifName)
		return err
	})
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return fmt.Errorf("listen on %s port %d in %s: %w", ifName, dhcpv4.ServerPort, nsPath, err)
	}
	b := &binding{nsPath: nsPath, ifName: ifName, nsID: id, conn: conn, done: make(chan struct{})}
	b.get.Store(&get)
	if s.bound == nil {
		s.bound = map[string]*binding{}
	}
	s.bound[nsPath] = b
	go s.serve(b)
	s.log().Info("dhcp serving", "netns", nsPath, "dev", ifName, "op", "start")
	return nil
}

// Stop stops serving the namespace at nsPath and closes its socket (which
// otherwise keeps a deleted namespace alive). Stopping a namespace that is
// not served does nothing.
func (s *Server) Stop(nsPath string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.bound[nsPath]; b != nil {
		s.stopLocked(b)
	}
}

func (s *Server) stopLocked(b *binding) {
	delete(s.bound, b.nsPath)
	b.conn.Close()
	<-b.done
	s.log().Info("dhcp stopped", "netns", b.nsPath, "dev", b.ifName, "op", "stop")
}

// Close stops serving every namespace.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.bound {
		s.stopLocked(b)
	}
	return nil
}

// Namespaces returns the namespace paths being served, sorted, so a
// reconciler can stop the ones it no longer wants.
func (s *Server) Namespaces() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.bound))
	for p := range s.bound {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// listen opens the server socket; it runs inside the target namespace.
// SO_BINDTODEVICE both filters requests to the DHCP port and makes
// replies to 255.255.255.255 leave through it.
func listen(ifName string) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
				serr = fmt.Errorf("SO_BROADCAST: %w", serr)
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				serr = fmt.Errorf("SO_REUSEADDR: %w", serr)
				return
			}
			if serr = unix.BindToDevice(int(fd), ifName); serr != nil {
				serr = fmt.Errorf("SO_BINDTODEVICE %s: %w", ifName, serr)
			}
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", dhcpv4.ServerPort))
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

func (s *Server) serve(b *binding) {
	defer close(b.done)
	log := s.log().With("netns", b.nsPath)
	buf := make([]byte, 65536)
	for {
		n, peer, err := b.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Warn("dhcp read", "op", "read", "err", err)
			time.Sleep(100 * time.Millisecond) // do not spin on a persistent error
			continue
		}
		s.handle(log, b, buf[:n], peer)
	}
}

func (s *Server) handle(log *slog.Logger, b *binding, pkt []byte, peer netip.AddrPort) {
	req, err := dhcpv4.FromBytes(pkt)
	if err != nil {
		log.Debug("dhcp bad packet", "peer", peer, "err", err)
		return
	}
	nw := (*b.get.Load())()
	resp, err := Reply(nw, req)
	if err != nil {
		log.Warn("dhcp reply", "op", "reply", "mac", req.ClientHWAddr.String(), "err", err)
		return
	}
	if resp == nil {
		log.Debug("dhcp no reply", "mac", req.ClientHWAddr.String(), "type", req.MessageType().String())
		return
	}
	dst := replyDest(req, resp)
	if _, err := b.conn.WriteToUDPAddrPort(resp.ToBytes(), dst); err != nil {
		log.Warn("dhcp send", "op", "send", "mac", req.ClientHWAddr.String(), "dst", dst, "err", err)
		return
	}
	log.Debug("dhcp reply", "mac", req.ClientHWAddr.String(), "type", resp.MessageType().String(),
		"yiaddr", resp.YourIPAddr.String(), "dst", dst)
}

// replyDest is where a reply goes (RFC 2131 section 4.1, without the
// unicast-to-yiaddr case; see Server).
func replyDest(req, resp *dhcpv4.DHCPv4) netip.AddrPort {
	bcast := netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), dhcpv4.ClientPort)
	if a, ok := addr4(req.GatewayIPAddr); ok {
		return netip.AddrPortFrom(a, dhcpv4.ServerPort)
	}
	if resp.MessageType() == dhcpv4.MessageTypeNak {
		return bcast
	}
	if a, ok := addr4(req.ClientIPAddr); ok {
		return netip.AddrPortFrom(a, dhcpv4.ClientPort)
	}
	return bcast
}

func addr4(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}
