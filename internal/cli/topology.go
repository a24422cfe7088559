package cli

import (
	"fmt"
	"os"

	"github.com/neutrino-net/neutrino/internal/topology"
	"github.com/spf13/cobra"
)

func newTopology() *cobra.Command {
	var format, output string
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Draw the cloud as the API shows it to the current credentials (SVG or HTML)",
		Long: `Log in with the OS_* variables of an openrc file (as the openstack CLI
does), read the networks, subnets, routers, ports and floating IPs the
Networking API shows these credentials, and draw them: each network a
vertical bar, each router and instance a box linked to the networks it
is attached to, with its addresses and floating IPs.

--format html (default) writes one self-contained page (the drawing and
tables of every object; no scripts, nothing loaded from elsewhere);
--format svg writes the drawing alone.

  . /run/neutrino/sandbox/demo-openrc
  neutrino topology -o topology.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "html" && format != "svg" {
				return fmt.Errorf("--format %q: want html or svg", format)
			}
			c, err := topology.Fetch(cmd.Context(), topology.CredentialsFromEnv(os.Getenv))
			if err != nil {
				return err
			}
			text := topology.HTML(*c)
			if format == "svg" {
				text = topology.SVG(*c)
			}
			if output == "" || output == "-" {
				_, err = fmt.Fprint(cmd.OutOrStdout(), text)
				return err
			}
			if err := os.WriteFile(output, []byte(text), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: %d networks, %d routers, %d instances\n", output, len(c.Networks), len(c.Routers), len(c.Instances))
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "html", "html (self-contained page) or svg")
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write (default: standard output)")
	return cmd
}
