package dhcp

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

var (
	macA   = mustMAC("fa:16:3e:00:00:0a")
	macOff = mustMAC("fa:16:3e:00:00:ff")
	server = netip.MustParseAddr("10.0.0.2")
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func addrp(s string) *netip.Addr { a := netip.MustParseAddr(s); return &a }

// testNetwork is a network with one routed subnet and one isolated one.
func testNetwork() *Network {
	return &Network{
		ID:         "net1",
		MTU:        1450,
		DomainName: "openstacklocal",
		Subnets: []Subnet{{
			ID:      "sub1",
			CIDR:    netip.MustParsePrefix("10.0.0.0/24"),
			Gateway: addrp("10.0.0.1"),
			DNS:     []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("192.0.2.54")},
			HostRoutes: []Route{{
				Destination: netip.MustParsePrefix("172.16.0.0/12"),
				NextHop:     netip.MustParseAddr("10.0.0.254"),
			}},
			ServerIP:  server,
			HasRouter: true,
		}},
		Leases: map[string]Lease{
			macA.String(): {MAC: macA.String(), IP: netip.MustParseAddr("10.0.0.5"), SubnetID: "sub1"},
		},
	}
}

// render prints a reply as text: header, then one line per option, decoded
// by the option's type; "" for no reply.
func render(t *testing.T, m *dhcpv4.DHCPv4) string {
	t.Helper()
	if m == nil {
		return ""
	}
	// Round-trip through the wire format so what is asserted is what a
	// client would parse.
	m, err := dhcpv4.FromBytes(m.ToBytes())
	if err != nil {
		t.Fatalf("reparse reply: %v", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s yiaddr=%s ciaddr=%s siaddr=%s chaddr=%s\n",
		m.MessageType(), m.YourIPAddr, m.ClientIPAddr, m.ServerIPAddr, m.ClientHWAddr)
	var codes []int
	for c := range m.Options {
		codes = append(codes, int(c))
	}
	sort.Ints(codes)
	for _, c := range codes {
		v := m.Options[uint8(c)]
		var s string
		switch c {
		case 53:
			continue // in the header
		case 1, 3, 6, 28, 54:
			var ips []string
			for i := 0; i+4 <= len(v); i += 4 {
				ips = append(ips, net.IP(v[i:i+4]).String())
			}
			s = strings.Join(ips, ",")
		case 12, 15, 56, 66, 67:
			s = fmt.Sprintf("%q", v)
		case 26:
			s = fmt.Sprint(int(v[0])<<8 | int(v[1]))
		case 51, 58, 59:
			s = fmt.Sprint(uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3]))
		case 121, 249:
			var rs dhcpv4.Routes
			if err := rs.FromBytes(v); err != nil {
				t.Fatalf("option %d: %v", c, err)
			}
			var parts []string
			for _, r := range rs {
				parts = append(parts, r.Dest.String()+">"+r.Router.String())
			}
			s = strings.Join(parts, " ")
		default:
			s = fmt.Sprintf("%x", v)
		}
		fmt.Fprintf(&b, "%d %s\n", c, s)
	}
	return b.String()
}

func discover(mac net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	m, err := dhcpv4.NewDiscovery(mac, mods...)
	if err != nil {
		panic(err)
	}
	return m
}

func request(mac net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{
		dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest)}, mods...)...)
	if err != nil {
		panic(err)
	}
	return m
}

func msg(mac net.HardwareAddr, typ dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	return request(mac, append([]dhcpv4.Modifier{dhcpv4.WithMessageType(typ)}, mods...)...)
}

var (
	withServer = dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server.AsSlice()))
	withReqIP  = func(s string) dhcpv4.Modifier {
		return dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(s)))
	}
)

// fullOpts are sub1's options for the lease of macA.
const fullOpts = `1 255.255.255.0
3 10.0.0.1
6 192.0.2.53,192.0.2.54
12 "host-10-0-0-5"
15 "openstacklocal"
26 1450
28 10.0.0.255
51 86400
54 10.0.0.2
58 43200
59 75600
121 172.16.0.0/12>10.0.0.254 169.254.169.254/32>10.0.0.1 0.0.0.0/0>10.0.0.1
249 172.16.0.0/12>10.0.0.254 169.254.169.254/32>10.0.0.1 0.0.0.0/0>10.0.0.1
`

func TestReplyMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  *dhcpv4.DHCPv4
		want string
	}{{
		name: "discover",
		req:  discover(macA),
		want: "OFFER yiaddr=10.0.0.5 ciaddr=0.0.0.0 siaddr=0.0.0.0 chaddr=fa:16:3e:00:00:0a\n" + fullOpts,
	}, {
		name: "discover unknown mac",
		req:  discover(macOff),
	}, {
		name: "discover from a client on another hardware type",
		req:  discover([]byte{1, 2, 3, 4, 5, 6, 7, 8}),
	}, {
		name: "request selecting",
		req:  request(macA, withServer, withReqIP("10.0.0.5")),
		want: "ACK yiaddr=10.0.0.5 ciaddr=0.0.0.0 siaddr=0.0.0.0 chaddr=fa:16:3e:00:00:0a\n" + fullOpts,
	}, {
		name: "request selecting another server",
		req: request(macA, withReqIP("10.0.0.5"),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.0.0.3")))),
	}, {
		name: "request selecting a stale address",
		req:  request(macA, withServer, withReqIP("10.0.0.6")),
		want: "NAK yiaddr=0.0.0.0 ciaddr=0.0.0.0 siaddr=0.0.0.0 chaddr=fa:16:3e:00:00:0a\n" +
			"54 10.0.0.2\n56 \"address not available\"\n",
	}, {
		name: "request init-reboot",
		req:  request(macA, withReqIP("10.0.0.5")),
		want: "ACK yiaddr=10.0.0.5 ciaddr=0.0.0.0 siaddr=0.0.0.0 chaddr=fa:16:3e:00:00:0a\n" + fullOpts,
	}, {
		name: "request init-reboot after the port's address changed",
		req:  request(macA, withReqIP("10.0.0.9")),
		want: "NAK yiaddr=0.0.0.0 ciaddr=0.0.0.0 siaddr=0.0.0.0 chaddr=fa:16:3e:00:00:0a\n" +
			"54 10.0.0.2\n56 \"address not available\"\n",
	}, {
		name: "request renewing",
		req:  request(macA, dhcpv4.WithClientIP(net.ParseIP("10.0.0.5"))),
		want: "ACK yiaddr=10.0.0.5 ciaddr=10.0.0.5 siaddr=0.0.0.0 chaddr=fa:16:3e:00:00:0a\n" + fullOpts,
	}, {
		name: "request renewing a stale address",
		req:  request(macA, dhcpv4.WithClientIP(net.ParseIP("10.0.0.7"))),
		want: "NAK yiaddr=0.0.0.0 ciaddr=0.0.0.0 siaddr=0.0.0.0 chaddr=fa:16:3e:00:00:0a\n" +
			"54 10.0.0.2\n56 \"address not available\"\n",
	}, {
		name: "request with neither address nor server",
		req:  request(macA),
	}, {
		name: "request unknown mac",
		req:  request(macOff, withServer, withReqIP("10.0.0.5")),
	}, {
		name: "inform",
		req:  msg(macA, dhcpv4.MessageTypeInform, dhcpv4.WithClientIP(net.ParseIP("10.0.0.5"))),
		want: "ACK yiaddr=0.0.0.0 ciaddr=10.0.0.5 siaddr=0.0.0.0 chaddr=fa:16:3e:00:00:0a\n" +
			strings.NewReplacer("51 86400\n", "", "58 43200\n", "", "59 75600\n", "").Replace(fullOpts),
	}, {
		name: "release",
		req:  msg(macA, dhcpv4.MessageTypeRelease, withServer, dhcpv4.WithClientIP(net.ParseIP("10.0.0.5"))),
	}, {
		name: "decline",
		req:  msg(macA, dhcpv4.MessageTypeDecline, withServer, withReqIP("10.0.0.5")),
	}, {
		name: "a server's message",
		req:  msg(macA, dhcpv4.MessageTypeOffer),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Reply(testNetwork(), tc.req)
			if err != nil {
				t.Fatalf("Reply: %v", err)
			}
			if diff := cmp.Diff(tc.want, render(t, got)); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
			if got != nil && (got.TransactionID != tc.req.TransactionID || got.OpCode != dhcpv4.OpcodeBootReply) {
				t.Errorf("reply xid %s op %s, want xid %s BootReply", got.TransactionID, got.OpCode, tc.req.TransactionID)
			}
		})
	}
}

// TestReplyOptions varies the network and the port; each case shows only
// the options that differ from fullOpts' shape.
func TestReplyOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(n *Network, l *Lease)
		want string // options; "" means no reply
	}{{
		name: "no gateway, isolated metadata off: no router, no routes",
		edit: func(n *Network, l *Lease) {
			n.Subnets[0].Gateway, n.Subnets[0].HostRoutes, n.Subnets[0].HasRouter = nil, nil, false
		},
		want: `1 255.255.255.0
6 192.0.2.53,192.0.2.54
12 "host-10-0-0-5"
15 "openstacklocal"
26 1450
28 10.0.0.255
51 86400
54 10.0.0.2
58 43200
59 75600
`,
	}, {
		name: "no gateway, isolated metadata: metadata via the DHCP port, no default route",
		edit: func(n *Network, l *Lease) {
			n.Subnets[0].Gateway, n.Subnets[0].HostRoutes, n.Subnets[0].HasRouter = nil, nil, false
			n.IsolatedMetadata = true
		},
		want: `1 255.255.255.0
6 192.0.2.53,192.0.2.54
12 "host-10-0-0-5"
15 "openstacklocal"
26 1450
28 10.0.0.255
51 86400
54 10.0.0.2
58 43200
59 75600
121 169.254.169.254/32>10.0.0.2
249 169.254.169.254/32>10.0.0.2
`,
	}, {
		name: "gateway without router, isolated metadata: metadata via DHCP port, default via gateway",
		edit: func(n *Network, l *Lease) {
			n.Subnets[0].HasRouter, n.Subnets[0].HostRoutes, n.Subnets[0].DNS = false, nil, nil
			n.IsolatedMetadata = true
		},
		want: `1 255.255.255.0
3 10.0.0.1
12 "host-10-0-0-5"
15 "openstacklocal"
26 1450
28 10.0.0.255
51 86400
54 10.0.0.2
58 43200
59 75600
121 169.254.169.254/32>10.0.0.2 0.0.0.0/0>10.0.0.1
249 169.254.169.254/32>10.0.0.2 0.0.0.0/0>10.0.0.1
`,
	}, {
		name: "router, isolated metadata on: metadata via the gateway (router's proxy)",
		edit: func(n *Network, l *Lease) {
			n.IsolatedMetadata = true
			n.Subnets[0].HostRoutes = nil
		},
		want: withRoutes("169.254.169.254/32>10.0.0.1 0.0.0.0/0>10.0.0.1"),
	}, {
		name: "force metadata: via the DHCP port even with a router",
		edit: func(n *Network, l *Lease) {
			n.ForceMetadata = true
			n.Subnets[0].HostRoutes = nil
		},
		want: withRoutes("169.254.169.254/32>10.0.0.2 0.0.0.0/0>10.0.0.1"),
	}, {
		name: "user's metadata and default host routes win",
		edit: func(n *Network, l *Lease) {
			n.Subnets[0].HostRoutes = []Route{
				{Destination: netip.MustParsePrefix("169.254.169.254/32"), NextHop: netip.MustParseAddr("10.0.0.9")},
				{Destination: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("10.0.0.8")},
			}
		},
		want: withRoutes("169.254.169.254/32>10.0.0.9 0.0.0.0/0>10.0.0.8"),
	}, {
		name: "second subnet: on-link route to it first",
		edit: func(n *Network, l *Lease) {
			n.Subnets = append(n.Subnets, Subnet{ID: "sub2", CIDR: netip.MustParsePrefix("10.1.0.0/24"),
				ServerIP: netip.MustParseAddr("10.1.0.2")})
		},
		want: withRoutes("10.1.0.0/24>0.0.0.0 172.16.0.0/12>10.0.0.254 169.254.169.254/32>10.0.0.1 0.0.0.0/0>10.0.0.1"),
	}, {
		name: "lease on the second subnet",
		edit: func(n *Network, l *Lease) {
			n.Subnets = append(n.Subnets, Subnet{ID: "sub2", CIDR: netip.MustParsePrefix("10.1.0.0/16"),
				ServerIP: netip.MustParseAddr("10.1.0.2")})
			l.SubnetID, l.IP = "sub2", netip.MustParseAddr("10.1.3.4")
			n.DomainName, n.MTU = "", 0
		},
		want: `1 255.255.0.0
12 "host-10-1-3-4"
28 10.1.255.255
51 86400
54 10.1.0.2
58 43200
59 75600
121 10.0.0.0/24>0.0.0.0
249 10.0.0.0/24>0.0.0.0
`,
	}, {
		name: "port DNS name and lease time",
		edit: func(n *Network, l *Lease) {
			l.Hostname = "vm1"
			n.LeaseTime = 600 * time.Second
		},
		want: strings.NewReplacer(`"host-10-0-0-5"`, `"vm1"`, "51 86400", "51 600",
			"58 43200", "58 300", "59 75600", "59 525").Replace(fullOpts),
	}, {
		name: "infinite lease",
		edit: func(n *Network, l *Lease) { n.LeaseTime = -1 },
		want: strings.NewReplacer("51 86400", "51 4294967295", "58 43200\n", "", "59 75600\n", "").Replace(fullOpts),
	}, {
		name: "extra opts override, add, remove; bad ones skipped",
		edit: func(n *Network, l *Lease) {
			l.ExtraOpts = []Opt{
				{Name: "mtu", Value: "9000"},
				{Name: "6", Value: "8.8.8.8"},
				{Name: "option:domain-name", Value: "example.org"},
				{Name: "tftp-server", Value: "192.0.2.10"},
				{Name: "bootfile-name", Value: "pxelinux.0"},
				{Name: "server-ip-address", Value: "192.0.2.10"},
				{Name: "ntp-server", Value: "192.0.2.123"},
				{Name: "no-such-option", Value: "1"},
				{Name: "mtu", Value: "not a number"},
				{Name: "broadcast", Value: ""},
			}
		},
		want: `1 255.255.255.0
3 10.0.0.1
6 8.8.8.8
12 "host-10-0-0-5"
15 "example.org"
26 9000
42 c000027b
51 86400
54 10.0.0.2
58 43200
59 75600
66 "192.0.2.10"
67 "pxelinux.0"
121 172.16.0.0/12>10.0.0.254 169.254.169.254/32>10.0.0.1 0.0.0.0/0>10.0.0.1
249 172.16.0.0/12>10.0.0.254 169.254.169.254/32>10.0.0.1 0.0.0.0/0>10.0.0.1
`,
	}, {
		name: "blank router removes option 3 and the default route",
		edit: func(n *Network, l *Lease) { l.ExtraOpts = []Opt{{Name: "router", Value: ""}} },
		want: strings.NewReplacer("3 10.0.0.1\n", "", " 0.0.0.0/0>10.0.0.1", "").Replace(fullOpts),
	}, {
		name: "classless routes replaced, then blanked",
		edit: func(n *Network, l *Lease) {
			l.ExtraOpts = []Opt{{Name: "classless-static-route", Value: "10.9.0.0/16,10.0.0.9"}}
		},
		want: withRoutes("10.9.0.0/16>10.0.0.9"),
	}, {
		name: "classless routes blanked",
		edit: func(n *Network, l *Lease) {
			l.ExtraOpts = []Opt{{Name: "classless-static-route", Value: ""}}
		},
		want: withRoutes(""),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			n := testNetwork()
			l := n.Leases[macA.String()]
			tc.edit(n, &l)
			n.Leases[macA.String()] = l
			got, err := Reply(n, discover(macA))
			if err != nil {
				t.Fatalf("Reply: %v", err)
			}
			text := render(t, got)
			_, opts, _ := strings.Cut(text, "\n")
			if diff := cmp.Diff(tc.want, opts); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if tc.name == "extra opts override, add, remove; bad ones skipped" && !got.ServerIPAddr.Equal(net.ParseIP("192.0.2.10")) {
				t.Errorf("siaddr = %s, want 192.0.2.10 (server-ip-address)", got.ServerIPAddr)
			}
		})
	}
}

// withRoutes is fullOpts with other classless routes ("" for none).
func withRoutes(rs string) string {
	old := "172.16.0.0/12>10.0.0.254 169.254.169.254/32>10.0.0.1 0.0.0.0/0>10.0.0.1"
	if rs == "" {
		return strings.NewReplacer("121 "+old+"\n", "", "249 "+old+"\n", "").Replace(fullOpts)
	}
	return strings.ReplaceAll(fullOpts, old, rs)
}

func TestReplyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(n *Network)
		want string
	}{{
		name: "lease on a subnet not served",
		edit: func(n *Network) { n.Subnets[0].ID = "other" },
		want: "lease fa:16:3e:00:00:0a 10.0.0.5 on subnet sub1, which is not served",
	}, {
		name: "lease outside its subnet",
		edit: func(n *Network) { n.Subnets[0].CIDR = netip.MustParsePrefix("10.9.0.0/24") },
		want: "lease fa:16:3e:00:00:0a 10.0.0.5 is not in subnet sub1 10.9.0.0/24",
	}, {
		name: "no server address",
		edit: func(n *Network) { n.Subnets[0].ServerIP = netip.Addr{} },
		want: "subnet sub1 has no DHCP port address",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			n := testNetwork()
			tc.edit(n)
			got, err := Reply(n, discover(macA))
			if got != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Reply = %v, %v; want nil and an error containing %q", got, err, tc.want)
			}
		})
	}
	if got, err := Reply(nil, discover(macA)); got != nil || err != nil {
		t.Errorf("Reply(nil network) = %v, %v; want nil, nil", got, err)
	}
}

func TestReplyDest(t *testing.T) {
	n := testNetwork()
	for _, tc := range []struct {
		name string
		req  *dhcpv4.DHCPv4
		want string
	}{
		{"discover: broadcast", discover(macA), "255.255.255.255:68"},
		{"discover asking broadcast", discover(macA, dhcpv4.WithBroadcast(true)), "255.255.255.255:68"},
		{"renew: unicast to ciaddr", request(macA, dhcpv4.WithClientIP(net.ParseIP("10.0.0.5"))), "10.0.0.5:68"},
		{"NAK to a renewing client: broadcast", request(macA, dhcpv4.WithClientIP(net.ParseIP("10.0.0.7"))), "255.255.255.255:68"},
		{"relayed: to the relay", discover(macA, dhcpv4.WithGatewayIP(net.ParseIP("10.0.0.1"))), "10.0.0.1:67"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := Reply(n, tc.req)
			if err != nil || resp == nil {
				t.Fatalf("Reply = %v, %v", resp, err)
			}
			if got := replyDest(tc.req, resp).String(); got != tc.want {
				t.Errorf("replyDest = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseOpt(t *testing.T) {
	for _, tc := range []struct {
		opt  Opt
		code uint8
		hex  string // "" with err false: removal
		err  bool
	}{
		{Opt{Name: "mtu", Value: "1400"}, 26, "0578", false},
		{Opt{Name: "26", Value: "1400"}, 26, "0578", false},
		{Opt{Name: "option:router", Value: "10.0.0.1"}, 3, "0a000001", false},
		{Opt{Name: "dns-server", Value: "8.8.8.8, 8.8.4.4"}, 6, "0808080808080404", false},
		{Opt{Name: "router", Value: ""}, 3, "", false},
		{Opt{Name: "time-offset", Value: "-3600"}, 2, "fffff1f0", false},
		{Opt{Name: "ip-forward-enable", Value: "1"}, 19, "01", false},
		{Opt{Name: "default-ttl", Value: "64"}, 23, "40", false},
		{Opt{Name: "lease-time", Value: "3600"}, 51, "00000e10", false},
		{Opt{Name: "classless-static-route", Value: "10.0.0.0/8,10.0.0.1,0.0.0.0/0,10.0.0.1"}, 121, "080a0a00000100" + "0a000001", false},
		{Opt{Name: "domain-search", Value: "example.org,example.com"}, 119, "076578616d706c65036f726700076578616d706c6503636f6d00", false},
		{Opt{Name: "server-ip-address", Value: "192.0.2.1"}, 255, "c0000201", false},
		{Opt{Name: "224", Value: "de:ad:be:ef"}, 224, "deadbeef", false},
		{Opt{Name: "225", Value: "192.0.2.1,192.0.2.2"}, 225, "c0000201c0000202", false},
		{Opt{Name: "226", Value: "hello"}, 226, "68656c6c6f", false},
		{Opt{Name: "249", Value: "10.0.0.0/8,10.0.0.1"}, 249, "080a0a000001", false},
		{Opt{Name: "mtu", Value: "70000"}, 0, "", true},
		{Opt{Name: "router", Value: "fe80::1"}, 0, "", true},
		{Opt{Name: "classless-static-route", Value: "10.0.0.0/8"}, 0, "", true},
		{Opt{Name: "ip-forward-enable", Value: "maybe"}, 0, "", true},
		{Opt{Name: "no-such-option", Value: "1"}, 0, "", true},
		{Opt{Name: "0", Value: "1"}, 0, "", true},
		{Opt{Name: "255", Value: "1"}, 0, "", true},
		{Opt{Name: "53", Value: "5"}, 0, "", true},
		{Opt{Name: "option:54", Value: "10.0.0.3"}, 0, "", true},
	} {
		t.Run(tc.opt.Name+"="+tc.opt.Value, func(t *testing.T) {
			code, data, err := ParseOpt(tc.opt)
			if (err != nil) != tc.err {
				t.Fatalf("ParseOpt err = %v, want error %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if code != tc.code || fmt.Sprintf("%x", data) != tc.hex {
				t.Errorf("ParseOpt = %d %x, want %d %s", code, data, tc.code, tc.hex)
			}
			if tc.hex == "" && data != nil {
				t.Errorf("blank value gave %x, want nil (remove)", data)
			}
		})
	}
}
