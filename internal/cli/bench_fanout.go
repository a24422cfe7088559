package cli

import (
	"io"
	"os"

	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/spf13/cobra"
)

func newBenchFanout() *cobra.Command {
	o := bench.DefaultFanout()
	var asJSON bool
	var serverProfile, agentsProfile, agentsCPU string
	cmd := &cobra.Command{
		Use:   "fanout",
		Short: "Measure how fast changes reach thousands of agents, and the server's memory per watcher",
		Long: `Start a neutrino-server in a process of its own (this program, re-executed;
embedded etcd in a temporary directory, noauth), then simulate --hosts
hosts in this process: each reports a Linux bridge agent and a dvr L3
agent, has one compute port on one of --networks networks (attached
round robin to --routers DVR routers; a security group per network whose
members reach each other, and one group every port is in), follows its
host's view through the agent protocol and plans every change with the
agent's planner, applying nothing.

Once every host has planned its initial view, it performs --ops floating
IP operations (associate, disassociate: each concerns the host of the
port) and --wide-ops rule operations on the group every port is in (add,
delete: each concerns every host), one at a time, and measures per
operation and per concerned host the time from just before the API call
until that host planned the change.

The server's memory is read from /proc (VmRSS after a GC that returned
the freed memory) before the watchers connect and with all of them
synced; per watcher is the difference divided by --hosts.
Targets: p99 ≤ 200 ms, server ≤ 2 GB with 5,000 watchers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for path, dst := range map[string]*io.Writer{serverProfile: &o.ServerHeapProfile, agentsProfile: &o.AgentsHeapProfile, agentsCPU: &o.AgentsCPUProfile} {
				if path == "" {
					continue
				}
				f, err := os.Create(path)
				if err != nil {
					return err
				}
				defer f.Close()
				*dst = f
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
	f.IntVar(&o.WideOps, "wide-ops", o.WideOps, "operations on a rule of the group every port is in (alternating add and delete)")
	f.DurationVar(&o.Interval, "interval", o.Interval, "pause between operations")
	f.BoolVar(&o.ShareDecode, "share-decode", false, "a simulated agent reuses the decoded value of an object another simulated agent decoded at the same revision (less CPU for big runs; a real agent decodes everything it receives, which is the default)")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	f.StringVar(&serverProfile, "server-memprofile", "", "write the server process's heap profile (all hosts synced) to this file")
	f.StringVar(&agentsProfile, "agents-memprofile", "", "write the simulated agents' heap profile (all hosts synced) to this file")
	f.StringVar(&o.ServerCPUProfile, "server-cpuprofile", "", "write the server process's CPU profile of the operations to this file")
	f.StringVar(&agentsCPU, "agents-cpuprofile", "", "write the simulated agents' CPU profile of the operations to this file")
	return cmd
}

// newBenchFanoutServer is the server process of `bench fanout`
// (bench/fanoutserver.go).
func newBenchFanoutServer() *cobra.Command {
	var o bench.FanoutServerOptions
	cmd := &cobra.Command{
		Use:    "fanout-server",
		Short:  "The server process of bench fanout (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.ServeFanout(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "embedded etcd's data directory (removed at the end)")
	f.IntVar(&o.Port, "port", 0, "API port on 127.0.0.1")
	return cmd
}
