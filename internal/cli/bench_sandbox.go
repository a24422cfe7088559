package cli

import (
	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/spf13/cobra"
)

// Data-plane benchmarks: each builds its own sandbox (needs root).

func newBenchBoot() *cobra.Command {
	o := bench.DefaultBoot()
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "boot",
		Short: "Measure instance boot to DHCP lease and reachability in a fresh sandbox (root)",
		Long:  "Measure instance boots in a fresh sandbox (needs root).\n\n" + bench.BootDefinition,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = cmd.ErrOrStderr()
			rep, err := bench.RunBoot(cmd.Context(), o)
			if err != nil {
				return err
			}
			return writeReport(cmd.OutOrStdout(), asJSON, rep)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Boots, "boots", o.Boots, "instances booted (one after the other)")
	f.BoolVar(&o.Sandbox.Keep, "keep", false, "leave the sandbox running afterwards")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

func newBenchAgentSync() *cobra.Command {
	o := bench.DefaultAgentSync()
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "agent-sync",
		Short: "Measure an agent's full sync with many ports on its host in a fresh sandbox (root)",
		Long:  "Measure an agent's full sync in a fresh sandbox (needs root).\n\n" + bench.AgentSyncDefinition,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = cmd.ErrOrStderr()
			rep, err := bench.RunAgentSync(cmd.Context(), o)
			if err != nil {
				return err
			}
			return writeReport(cmd.OutOrStdout(), asJSON, rep)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Ports, "ports", o.Ports, "ports (and taps) on the host")
	f.IntVar(&o.Chunk, "chunk", o.Chunk, "ports per bulk create")
	f.BoolVar(&o.Sandbox.Keep, "keep", false, "leave the sandbox running afterwards")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}
