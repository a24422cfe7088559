package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/topology"
	"github.com/spf13/cobra"
)

// newSandboxDemo runs a reference walkthrough in a fresh sandbox: the
// DVR one by default, the legacy L3 agent one with "legacy".
func newSandboxDemo(dir, prefix *string) *cobra.Command {
	o := sandbox.Options{Computes: sandbox.DefaultComputes, Port: sandbox.DefaultPort}
	var down bool
	cmd := &cobra.Command{
		Use:   "demo [legacy|ha]",
		Short: "Run the DVR walkthrough (or, with legacy, the Neutron L3 agent walkthrough; with ha, an HA failover) in a fresh sandbox",
		Long: `Builds a fresh sandbox (replacing one left in --dir), then runs a
reference walkthrough in it. Every step prints the command it stands for,
every check sends real packets or reads the hosts' namespaces.

Without an argument: "High availability using Distributed Virtual Routing
(DVR)": the agents per host (network1 dvr_snat with DHCP, computes dvr
without), ext-net and ext-subnet, demo-net for project demo, the
distributed demo-router with an interface and a gateway, the snat-,
qrouter- and qdhcp- namespaces on network1, demo-instance1 on compute1
(qrouter- there), pings to the router and to the internet (SNAT on
network1), a floating IP (fip- on compute1) that answers neither ping
nor SSH from the external network until the security group rules
(ICMP and TCP 22 into the default group) are created, and both after,
and the east-west flow to demo-instance2 on demo-net2 on compute2.

With legacy: "Neutron L3 Agent / What is it and how does it work?":
external network, tenant networks APPS_NET and DMZ_NET, a centralized
router with a gateway and both interfaces, one instance on each, a
floating IP moved between them, and metadata through the router.

With ha: two network nodes; demo-router is distributed and HA (active on
one network node, standby on the other, as "openstack network agent list
--router demo-router --long" shows); demo-instance1 pings the internet
host every 100 ms while the active network node loses power (sandbox
fail); the measured gap and the time until the API reports the other node
active are printed; the node is healed and returns as standby without
loss.

The sandbox stays up for exploring unless --down is given.`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"legacy", "ha"},
		RunE: func(cmd *cobra.Command, args []string) error {
			run := (*sandbox.State).DemoDVR
			if len(args) == 1 {
				switch args[0] {
				case "legacy":
					run = (*sandbox.State).DemoLegacy
				case "ha":
					run = (*sandbox.State).DemoHA
					o.NetworkNodes = max(o.NetworkNodes, 2)
				default:
					return fmt.Errorf("unknown walkthrough %q (known: legacy, ha; none for DVR)", args[0])
				}
			}
			o.Dir, o.Prefix, o.Out = *dir, *prefix, cmd.ErrOrStderr()
			if _, err := sandbox.LoadState(o.Dir); err == nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "replacing the sandbox in %s\n", o.Dir)
				if err := sandbox.Down(sandbox.DownOptions{Dir: o.Dir, Prefix: o.Prefix, Grace: 5 * time.Second}); err != nil {
					return err
				}
			}
			st, err := sandbox.Up(cmd.Context(), o)
			if err != nil {
				return err
			}
			runErr := run(st, cmd.Context(), cmd.OutOrStdout())
			if runErr == nil && !down {
				drawTopology(cmd, st)
			}
			if down {
				if err := sandbox.Down(sandbox.DownOptions{Dir: o.Dir, Prefix: o.Prefix, Grace: 5 * time.Second}); err != nil {
					fmt.Fprintln(os.Stderr, "down:", err)
				}
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "\nThe sandbox stays up: source %s/admin-openrc for the openstack CLI; `neutrino sandbox down` removes it.\n", o.Dir)
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Computes, "computes", o.Computes, "number of compute hosts")
	f.IntVar(&o.Port, "port", o.Port, "API port on 127.0.0.1")
	f.BoolVar(&down, "down", false, "remove the sandbox when the demo ends")
	f.DurationVar(&o.ReadyTimeout, "timeout", 60*time.Second, "wait this long for the server and the agents")
	return cmd
}

// drawTopology writes the demo's cloud, as admin sees it, to
// <dir>/topology.html and says where it is (a failure only warns: the
// walkthrough itself passed).
func drawTopology(cmd *cobra.Command, st *sandbox.State) {
	path := filepath.Join(st.Dir, "topology.html")
	err := func() error {
		rc, err := st.OpenRC("admin")
		if err != nil {
			return err
		}
		c, err := topology.Fetch(cmd.Context(), topology.Credentials(rc))
		if err != nil {
			return err
		}
		return os.WriteFile(path, []byte(topology.HTML(*c)), 0o644)
	}()
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "topology picture: %v\n", err)
		return
	}
	fmt.Fprintf(cmd.OutOrStdout(), "\nThe picture of the cloud: %s (neutrino topology draws it again)\n", path)
}
