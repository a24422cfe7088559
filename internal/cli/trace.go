package cli

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/topology"
	"github.com/neutrino-net/neutrino/internal/trace"
	"github.com/neutrino-net/neutrino/internal/traceprobe"
	"github.com/neutrino-net/neutrino/internal/traceworld"
	"github.com/spf13/cobra"
)

// traceFlags are neutrino trace's options.
type traceFlags struct {
	from, to, src, proto string
	port                 uint16
	probe                bool
	dir                  string
}

func newTrace() *cobra.Command {
	var f traceFlags
	cmd := &cobra.Command{
		Use:   "trace --from PORT|ADDRESS --to ADDRESS [--proto icmp|tcp|udp] [--port N]",
		Short: "Walk a packet through the planned data plane of the hosts it crosses and print its fate",
		Long: `Log in with admin credentials (the OS_* variables of an openrc file),
read every host's view through the agents' own sync stream and its
agents' reported configuration, plan each host with the agents' planner,
and walk one packet through those plans: bridge and FDB or tunnel choice,
ARP responder, ip rules and the table used, NAT translations, and the
security-group verdict with the rule that decided. Prints each hop and
the fate: delivered to a port (or a router's address, or out of the
cloud), or dropped at a place by a rule.

--from is an instance port (id, name, or its fixed address) or, for a
packet from outside, an address behind the external network's gateway.
--src sets the packet's source address (a spoofed one, say).

--probe (in the sandbox) then sends one real packet the same way and
checks that it arrives where the trace says, or nowhere if dropped.

  . /run/neutrino/sandbox/admin-openrc
  neutrino trace --from demo-instance1 --to 203.0.113.1 --proto icmp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dst, err := netip.ParseAddr(f.to)
			if err != nil {
				return fmt.Errorf("--to %q: want an IPv4 address", f.to)
			}
			if f.proto != "icmp" && f.proto != "tcp" && f.proto != "udp" {
				return fmt.Errorf("--proto %q: want icmp, tcp or udp", f.proto)
			}
			pkt := trace.Packet{Dst: dst, Proto: f.proto, Port: f.port}
			if f.src != "" {
				if pkt.Src, err = netip.ParseAddr(f.src); err != nil {
					return fmt.Errorf("--src %q: want an address", f.src)
				}
			}
			client, err := topology.NetworkClient(cmd.Context(), topology.CredentialsFromEnv(os.Getenv))
			if err != nil {
				return err
			}
			w, err := traceworld.Fetch(cmd.Context(), client)
			if err != nil {
				return err
			}
			res, port, err := traceworld.Run(w, f.from, pkt)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), res.String())
			if !f.probe {
				return nil
			}
			st, err := sandbox.LoadState(f.dir)
			if err != nil {
				return fmt.Errorf("--probe needs the sandbox: %w", err)
			}
			if pkt.Src, err = runSource(port, f.from, pkt.Src); err != nil {
				return err
			}
			rep, err := traceprobe.Check(st, port, pkt, res)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), rep.Text)
			if !rep.Agrees {
				return fmt.Errorf("the probe disagrees with the trace")
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.from, "from", "", "instance port (id, name or fixed address) or an external source address")
	fl.StringVar(&f.to, "to", "", "destination address")
	fl.StringVar(&f.src, "src", "", "source address the packet carries (default: the port's own)")
	fl.StringVar(&f.proto, "proto", "icmp", "icmp (echo request), tcp (SYN) or udp")
	fl.Uint16Var(&f.port, "port", 0, "destination port (tcp, udp)")
	fl.BoolVar(&f.probe, "probe", false, "also send one real packet in the sandbox and compare")
	fl.StringVar(&f.dir, "dir", "/run/neutrino/sandbox", "the sandbox's state directory (--probe)")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// runSource is the probe's source address: the one given, else the
// instance port's own, else the external address --from names.
func runSource(port *trace.Port, from string, src netip.Addr) (netip.Addr, error) {
	if src.IsValid() {
		return src, nil
	}
	if port != nil {
		return port.Addr.Addr(), nil
	}
	return netip.ParseAddr(from)
}
