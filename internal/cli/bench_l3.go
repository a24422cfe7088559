package cli

import (
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
