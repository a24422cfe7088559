package cli

import (
	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/spf13/cobra"
)

func newBenchNetNode() *cobra.Command {
	o := bench.DefaultNetNode()
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "netnode",
		Short: "Measure one network node carrying many routers and floating IPs in a fresh sandbox (root): cold start, no-op restart with pings, RSS, kernel objects, floating IP associate",
		Long:  "Measure one network node at scale in a fresh sandbox (needs root).\n\n" + bench.NetNodeDefinition,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = cmd.ErrOrStderr()
			rep, err := bench.RunNetNode(cmd.Context(), o)
			if rep != nil {
				if werr := writeReport(cmd.OutOrStdout(), asJSON, rep); werr != nil && err == nil {
					err = werr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Routers, "routers", o.Routers, "routers on network1 (half legacy, half distributed)")
	f.IntVar(&o.FIPs, "fips", o.FIPs, "floating IPs on the legacy routers' ports")
	f.IntVar(&o.Ports, "ports", o.Ports, "ports bound to simulated remote hosts")
	f.IntVar(&o.FIPRuns, "fip-runs", o.FIPRuns, "floating IP associations on the empty and on the full node")
	f.IntVar(&o.Chunk, "populate-chunk", o.Chunk, "ports per bulk create")
	f.IntVar(&o.Backlog, "netdev-backlog", 0, "net.core.netdev_max_backlog during the run, restored afterwards (0: twice the external bridge's ports unless the host has more; -1: leave the host's value)")
	f.BoolVar(&o.Sandbox.Keep, "keep", false, "leave the sandbox running afterwards")
	f.StringVar(&o.Sandbox.Dir, "dir", "", "state directory of the sandbox (default: a new temporary directory)")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}
