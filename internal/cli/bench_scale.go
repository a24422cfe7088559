package cli

import (
	"os"

	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/spf13/cobra"
)

func newBenchAPIScale() *cobra.Command {
	o := bench.DefaultScale()
	var asJSON bool
	var createProfile string
	cmd := &cobra.Command{
		Use:   "api-scale",
		Short: "Measure the Networking API at scale (start-up, RSS, latency with 8 and 32 clients, etcd size)",
		Long: `Populate an in-process neutrino-server (embedded etcd in a temporary
directory, noauth) with ports (100 per network, each network on its own
router with a gateway), routers, floating IPs (on the first ports) and
security group rules, by bulk creates; restart it on the same store to
time the start-up (cache load) and read the process's RSS; then, with
each number of --clients, measure: list all ports, list ports filtered by
device_id and by network_id, port create, floating IP associate and
router interface add. Ends with etcd's database size, revision and
compaction state (--compact also compacts to the current revision and
reports the size in use again).

The defaults are the sizes of issue 15 (100,000 ports, 10,000 routers,
50,000 floating IPs, 20,000 rules); smaller sizes by flag.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = cmd.ErrOrStderr()
			}
			if createProfile != "" {
				f, err := os.Create(createProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				o.CreateProfile = f
			}
			rep, err := bench.RunScale(cmd.Context(), o)
			if err != nil {
				return err
			}
			return writeReport(cmd.OutOrStdout(), asJSON, rep)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Ports, "ports", o.Ports, "ports")
	f.IntVar(&o.PortsPerNetwork, "ports-per-network", o.PortsPerNetwork, "ports per network (at most 200)")
	f.IntVar(&o.Routers, "routers", o.Routers, "routers (one per network of ports, one per measured interface add, the rest empty)")
	f.IntVar(&o.FloatingIPs, "floating-ips", o.FloatingIPs, "floating IPs (each on a port)")
	f.IntVar(&o.Rules, "rules", o.Rules, "security group rules")
	f.IntVar(&o.RulesPerGroup, "rules-per-group", o.RulesPerGroup, "rules per security group")
	f.IntSliceVar(&o.Clients, "clients", o.Clients, "concurrent clients of each measured round")
	f.IntVar(&o.Runs, "runs", o.Runs, "requests of each measured operation per round")
	f.IntVar(&o.ListRuns, "list-runs", o.ListRuns, "requests of list all ports per round")
	f.IntVar(&o.Chunk, "populate-chunk", o.Chunk, "objects per bulk create while populating")
	f.BoolVar(&o.Compact, "compact", false, "compact etcd at the end and report the size in use again")
	f.StringVar(&createProfile, "create-profile", "", "write a CPU profile of the first round of port creates to this file")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}
