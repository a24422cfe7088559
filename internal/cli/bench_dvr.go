package cli

import (
	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/spf13/cobra"
)

func newBenchDVR() *cobra.Command {
	o := bench.DefaultDVR()
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "dvr",
		Short: "Measure distributed routers' data plane in a fresh sandbox (root): throughput against VXLAN and legacy, floating IP associate and interface add to first packet",
		Long:  "Measure distributed (DVR) routers in a fresh sandbox (needs root).\n\n" + bench.DVRDefinition,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = cmd.ErrOrStderr()
			rep, err := bench.RunDVR(cmd.Context(), o)
			if rep != nil {
				// A part that failed is in the report; print what ran.
				if werr := writeReport(cmd.OutOrStdout(), asJSON, rep); werr != nil && err == nil {
					err = werr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.IfaceRuns, "iface-runs", o.IfaceRuns, "interface adds")
	f.IntVar(&o.FIPRuns, "fip-runs", o.FIPRuns, "floating IP associations at each scale")
	f.IntSliceVar(&o.Scales, "scales", o.Scales, "floating IPs already on compute1, per measurement")
	f.DurationVar(&o.Throughput, "throughput", o.Throughput, "iperf3 time per path (0: skip)")
	f.IntVar(&o.Rounds, "rounds", o.Rounds, "iperf3 runs per path, interleaved (the median is reported)")
	f.IntVar(&o.Chunk, "populate-chunk", o.Chunk, "ports per bulk create while populating floating IPs")
	f.BoolVar(&o.Sandbox.Keep, "keep", false, "leave the sandbox running afterwards")
	f.StringVar(&o.Sandbox.Dir, "dir", "", "state directory of the sandbox (default: a new temporary directory)")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}
