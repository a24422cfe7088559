package cli

import (
	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/spf13/cobra"
)

func newBenchLegacy() *cobra.Command {
	o := bench.DefaultLegacy()
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "legacy",
		Short: "Measure legacy routers' data plane in a fresh sandbox (root): interface add and floating IP associate to first packet, NAT throughput",
		Long:  "Measure legacy routers in a fresh sandbox (needs root).\n\n" + bench.LegacyDefinition,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = cmd.ErrOrStderr()
			rep, err := bench.RunLegacy(cmd.Context(), o)
			if err != nil {
				return err
			}
			return writeReport(cmd.OutOrStdout(), asJSON, rep)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Runs, "runs", o.Runs, "interface adds, and floating IP associations at each scale")
	f.IntSliceVar(&o.Scales, "scales", o.Scales, "floating IPs already associated on the router, per measurement")
	f.DurationVar(&o.Throughput, "throughput", o.Throughput, "iperf3 time per path (0: skip)")
	f.IntVar(&o.Chunk, "populate-chunk", o.Chunk, "ports per bulk create while populating floating IPs")
	f.BoolVar(&o.Sandbox.Keep, "keep", false, "leave the sandbox running afterwards")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}
