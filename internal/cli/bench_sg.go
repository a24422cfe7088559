package cli

import (
	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/spf13/cobra"
)

func newBenchSG() *cobra.Command {
	o := bench.DefaultSG()
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sg",
		Short: "Measure security groups in a fresh sandbox (root): throughput filtered vs port security off, rule create and new member to first packet",
		Long:  "Measure security groups in a fresh sandbox (needs root).\n\n" + bench.SGDefinition,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = cmd.ErrOrStderr()
			rep, err := bench.RunSG(cmd.Context(), o)
			if rep != nil {
				if werr := writeReport(cmd.OutOrStdout(), asJSON, rep); werr != nil && err == nil {
					err = werr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Runs, "runs", o.Runs, "rule creates (rule create -> first packet)")
	f.IntVar(&o.MemberRuns, "member-runs", o.MemberRuns, "new members (port create -> admitted by a remote group rule)")
	f.DurationVar(&o.Throughput, "throughput", o.Throughput, "iperf3 time per measurement (0: skip)")
	f.IntVar(&o.Rounds, "rounds", o.Rounds, "filtered / port security off alternations")
	f.BoolVar(&o.Sandbox.Keep, "keep", false, "leave the sandbox running afterwards")
	f.StringVar(&o.Sandbox.Dir, "dir", "", "state directory of the sandbox (default: a new temporary directory)")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}
