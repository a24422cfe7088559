// Package cli is the command tree of the neutrino command.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/neutrino-net/neutrino/internal/version"
	"github.com/spf13/cobra"
)

// Main runs the neutrino command with args and returns its exit status.
func Main(args []string) int {
	root := NewRoot()
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(root.ErrOrStderr(), "neutrino:", err)
		return 1
	}
	return 0
}

// NewRoot builds the neutrino command and its subcommands.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "neutrino",
		Short:         "The Neutrino CLI: sandbox, topology and benchmarks",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String("neutrino"),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(newBench(), newSandbox(), newConformance(), newTopology(), newTrace())
	return root
}

func newBench() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Neutrino",
	}
	cmd.AddCommand(newBenchAPI(), newBenchAPIScale(), newBenchL3(), newBenchFanout(), newBenchFanoutServer(), newBenchBoot(), newBenchAgentSync(), newBenchLegacy(), newBenchDVR(), newBenchSG(), newBenchNetNode(), newBenchGuard())
	return cmd
}

func newBenchAPI() *cobra.Command {
	o := bench.Defaults()
	var asJSON bool
	var cpuProfile, openrc string
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Measure the Networking API through HTTP (creates and lists)",
		Long: `Measure the Networking API through HTTP: sequential network, subnet and
port creates, concurrent port creates, and full and filtered port lists
with 5,000 and 10,000 ports, next to the targets and upstream Neutron's
figures.

By default a neutrino-server is started in this process (embedded etcd in
a temporary directory, auth_strategy noauth). With --url a running server
is measured instead; it keeps the resources created (named bench-*).

The same run measures any Networking API endpoint, upstream Neutron
included: give --url and --token, or Keystone credentials (--os-* flags,
an --openrc file, or the OS_* variables of a sourced openrc; the endpoint
is then the catalog's "network" one unless --url is given). Without admin
rights give --external-network; the quota raise is then skipped with a
warning. Each result shows upstream Neutron's time for it, measured with
this harness against Debian 12's Neutron Zed on the development machine
(scripts/upstream-neutron), and the ratio to it (docs/performance.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			if !asJSON {
				o.Progress = cmd.ErrOrStderr()
			}
			if openrc != "" {
				if err := bench.ReadOpenRC(openrc, &o.Creds, cmd.Flags().Changed); err != nil {
					return err
				}
			}
			rep, err := bench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			return writeReport(cmd.OutOrStdout(), asJSON, rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.URL, "url", "", "Networking API endpoint to measure, neutrino-server or upstream Neutron (default: the catalog's with --os-auth-url, else start a neutrino-server in-process)")
	f.StringVar(&o.Token, "token", "", "X-Auth-Token for --url (default: from the --os-* credentials, else noauth headers)")
	f.StringVar(&openrc, "openrc", "", "read the OS_* credentials from this openrc file (export OS_...=... lines)")
	env := bench.CredentialsFromEnv()
	o.Creds = env
	f.StringVar(&o.Creds.AuthURL, "os-auth-url", env.AuthURL, "Keystone URL (default $OS_AUTH_URL)")
	f.StringVar(&o.Creds.Username, "os-username", env.Username, "user (default $OS_USERNAME)")
	f.StringVar(&o.Creds.Password, "os-password", env.Password, "password (default $OS_PASSWORD)")
	f.StringVar(&o.Creds.ProjectName, "os-project-name", env.ProjectName, "project (default $OS_PROJECT_NAME)")
	f.StringVar(&o.Creds.UserDomain, "os-user-domain-name", env.UserDomain, "user's domain (default $OS_USER_DOMAIN_NAME, else Default)")
	f.StringVar(&o.Creds.ProjectDomain, "os-project-domain-name", env.ProjectDomain, "project's domain (default $OS_PROJECT_DOMAIN_NAME, else Default)")
	f.StringVar(&o.Creds.Region, "os-region-name", env.Region, "catalog region (default $OS_REGION_NAME)")
	f.IntVar(&o.Groups, "groups", o.Groups, "security groups created sequentially (then listed with the default one)")
	f.IntVar(&o.RulesPerGroup, "rules-per-group", o.RulesPerGroup, "rules each listed group ends with (created sequentially)")
	f.IntVar(&o.Routers, "routers", o.Routers, "routers created sequentially")
	f.IntVar(&o.FloatingIPs, "floating-ips", o.FloatingIPs, "floating IPs created sequentially, then listed")
	f.StringVar(&o.ExternalNetwork, "external-network", "", "id of the external network for the floating IPs (default: create one, which needs admin)")
	f.StringVar(&o.Project, "project", o.Project, "project of the noauth headers")
	f.IntVar(&o.Ports, "ports", o.Ports, "ports created sequentially, and again concurrently")
	f.IntVar(&o.Networks, "networks", o.Networks, "networks (and subnets) created sequentially")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "clients of the concurrent port creates")
	f.IntSliceVar(&o.ListSizes, "list-sizes", o.ListSizes, "total ports when the lists are measured")
	f.IntVar(&o.ListRuns, "list-runs", o.ListRuns, "runs of each full list")
	f.IntVar(&o.FilterRuns, "filter-runs", o.FilterRuns, "runs of each list filtered by device_id")
	f.IntVar(&o.Chunk, "populate-chunk", o.Chunk, "ports per bulk create while populating the lists (not measured)")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	_ = f.MarkHidden("cpuprofile")
	return cmd
}

// report is what every benchmark returns.
type report interface {
	WriteJSON(io.Writer) error
	WriteTable(io.Writer)
}

// writeReport prints a benchmark's results as a table or as JSON.
func writeReport(w io.Writer, asJSON bool, r report) error {
	if asJSON {
		return r.WriteJSON(w)
	}
	r.WriteTable(w)
	return nil
}
