package cli

import (
	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/spf13/cobra"
)

// newBenchGuard is the hidden command a data-plane benchmark starts to
// remove its sandbox should the benchmark be killed (bench/guard.go).
func newBenchGuard() *cobra.Command {
	var o bench.GuardOptions
	cmd := &cobra.Command{
		Use:    "guard",
		Short:  "Remove a benchmark's sandbox once the benchmark is gone (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.ErrOrStderr()
			return bench.RunGuard(cmd.InOrStdin(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "state directory of the sandbox")
	f.StringVar(&o.Prefix, "prefix", "", "prefix of the sandbox")
	f.BoolVar(&o.RemoveDir, "remove-dir", false, "remove the state directory too")
	return cmd
}
