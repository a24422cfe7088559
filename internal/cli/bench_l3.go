package cli

import (
	"os"

	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/spf13/cobra"
)

func newBenchL3() *cobra.Command {
	o := bench.DefaultL3()
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "l3",
		Short: "Measure router and floating IP operations through HTTP",
		Long: `Measure router and floating IP operations through HTTP: router gateway
set, router interface add (by subnet), floating IP create and floating IP
associate (each --count times, sequentially), next to the target
(p50 < 10 ms) and upstream Neutron's figures on the reference machine.

A neutrino-server is started in this process (embedded etcd in a temporary
directory, auth_strategy noauth, admin caller).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = cmd.ErrOrStderr()
			}
			rep, err := bench.RunL3(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return rep.WriteJSON(cmd.OutOrStdout())
			}
			rep.WriteL3Table(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Count, "count", o.Count, "runs of each operation (one router, network, port and floating IP each)")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

func newBenchFanout() *cobra.Command {
	o := bench.DefaultFanout()
	var asJSON bool
	var cpuProfile, memProfile string
	cmd := &cobra.Command{
		Use:   "fanout",
		Short: "Measure how fast changes reach many agents' watch streams",
		Long: `Start a neutrino-server in this process, register --hosts simulated hosts
(each an agent-protocol client with its own model: a Linux bridge agent
and a dvr L3 agent, one compute port on one of --networks networks
attached to --routers DVR routers), connect all their watch streams, then
associate and disassociate floating IPs (--ops operations) and measure,
per operation and per host whose view holds the floating IP, the time
from just before the API call until that host's model applied the change.
Target: p99 < 100 ms with 1,000 hosts.

Memory figures are for the whole process: the server, the embedded etcd
and the simulated agents share it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				o.OpsProfile = f
			}
			if memProfile != "" {
				f, err := os.Create(memProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				o.HeapProfile = f
			}
			if !asJSON {
				o.Progress = cmd.ErrOrStderr()
			}
			rep, err := bench.RunFanout(cmd.Context(), o)
			if err != nil {
				return err
			}
			return writeReport(cmd.OutOrStdout(), asJSON, rep)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Hosts, "hosts", o.Hosts, "simulated hosts (one watch stream each)")
	f.IntVar(&o.Networks, "networks", o.Networks, "networks the hosts' compute ports are spread over")
	f.IntVar(&o.Routers, "routers", o.Routers, "DVR routers the networks are attached to")
	f.IntVar(&o.Ops, "ops", o.Ops, "floating IP operations (alternating associate and disassociate)")
	f.DurationVar(&o.Interval, "interval", o.Interval, "pause between operations")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the operations phase to this file")
	f.StringVar(&memProfile, "memprofile", "", "write a heap profile (all streams synced, after GC) to this file")
	return cmd
}
