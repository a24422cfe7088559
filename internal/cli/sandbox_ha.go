package cli

import (
	"fmt"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/spf13/cobra"
)

// Failure injection for HA (docs/ha.md).

func newSandboxFail(load func() (*sandbox.State, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "fail HOST",
		Short: "Power loss of a host: its fabric links go down and its agent is killed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := load()
			if err != nil {
				return err
			}
			if err := st.Fail(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s failed: links down, agent stopped\n", args[0])
			return nil
		},
	}
}

func newSandboxHeal(load func() (*sandbox.State, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "heal HOST",
		Short: "Undo fail or partition: the agent starts and applies, then the links come back",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := load()
			if err != nil {
				return err
			}
			if err := st.Heal(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s healed\n", args[0])
			return nil
		},
	}
}

func newSandboxPartition(load func() (*sandbox.State, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "partition HOST",
		Short: "Cut only the host's agent from the server (its data plane keeps working); heal undoes it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := load()
			if err != nil {
				return err
			}
			if err := st.Partition(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s partitioned from the server\n", args[0])
			return nil
		},
	}
}
