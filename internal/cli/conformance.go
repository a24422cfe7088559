package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/conformance"
	"github.com/neutrino-net/neutrino/internal/server"
	"github.com/spf13/cobra"
)

func newConformance() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "conformance",
		Short: "Run upstream's API test suites against a neutrino-server",
	}
	cmd.AddCommand(newConformanceTempest(), newConformanceGophercloud())
	return cmd
}

func newConformanceTempest() *cobra.Command {
	var o conformance.RunOptions
	var serverURL, openrc string
	var noPublic bool
	cmd := &cobra.Command{
		Use:   "tempest",
		Short: "Run tempest.api.network and neutron_tempest_plugin.api (Debian's tempest)",
		Long: `Run tempest's network API tests and neutron-tempest-plugin's API tests
against a neutrino-server with Debian's tempest (apt-get install tempest
neutron-tempest-plugin), then print pass/fail/skip per suite, the failing
test ids and the skips grouped by reason.

tempest.conf is written for the server: the built-in Keystone's admin user
makes tempest's dynamic credentials (a project and user per test class),
the extension list is the server's (GET /v2.0/extensions), and its
external network, if any, is the public network.

By default a neutrino-server is started in this process (embedded etcd and
the built-in Keystone in a temporary directory, with a flat external
network "public" on 203.0.113.0/24). With --server, a running server is
tested; --openrc names the admin-openrc of its built-in Keystone (default
<server data dir>/admin-openrc as the server wrote it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			physnet := "public" // the in-process server's: API only
			if serverURL != "" || noPublic {
				physnet = ""
			}
			t, stop, err := conformanceTarget(ctx, serverURL, openrc, physnet)
			if err != nil {
				return err
			}
			defer stop()
			o.Target = t
			o.Output = cmd.ErrOrStderr()
			res, err := conformance.Run(ctx, o)
			if res != nil {
				res.WriteSummary(cmd.OutOrStdout())
				if o.Keep {
					fmt.Fprintln(cmd.OutOrStdout(), "workspace:", res.Workspace)
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&serverURL, "server", "", "test a running neutrino-server (default: start one in-process); tempest uses the network endpoint of its Keystone catalog")
	f.StringVar(&openrc, "openrc", "", "admin-openrc of the --server's built-in Keystone")
	f.StringVar(&o.Regex, "regex", "", "tests to run (default: ^(tempest.api.network|neutron_tempest_plugin.api)\\.)")
	f.IntVar(&o.Concurrency, "concurrency", 2, "tempest workers")
	f.StringVar(&o.Workspace, "workspace", "", "tempest workspace directory (default: a temporary one)")
	f.BoolVar(&o.Keep, "keep", false, "keep the temporary workspace (tempest.log, trace.txt)")
	f.BoolVar(&noPublic, "no-public-network", false, "do not create the external network in the in-process server")
	return cmd
}

// conformanceTarget starts an in-process server (serverURL "") or reads
// the admin-openrc of a running one, and discovers what it serves.
// publicPhysnet, if not "", is where an external network is made when
// the server has none.
func conformanceTarget(ctx context.Context, serverURL, openrc, publicPhysnet string) (conformance.Target, func(), error) {
	stop := func() {}
	var a conformance.Admin
	var err error
	if serverURL == "" {
		if stop, a, err = startOwnServer(ctx); err != nil {
			return conformance.Target{}, nil, err
		}
	} else {
		if openrc == "" {
			return conformance.Target{}, nil, fmt.Errorf("--server needs --openrc (the admin-openrc the server wrote)")
		}
		if a, err = readOpenRC(openrc); err != nil {
			return conformance.Target{}, nil, err
		}
	}
	t, err := conformance.Discover(ctx, a, publicPhysnet)
	if err != nil {
		stop()
		return t, nil, err
	}
	return t, stop, nil
}

// startOwnServer starts a neutrino-server with the built-in Keystone on a
// free loopback port, its data in a temporary directory.
func startOwnServer(ctx context.Context) (stop func(), a conformance.Admin, err error) {
	dir, err := os.MkdirTemp("", "neutrino-conformance-")
	if err != nil {
		return nil, a, err
	}
	cfg := config.Defaults()
	cfg.BindHost, cfg.BindPort = "127.0.0.1", 0
	logf, err := os.Create(dir + "/server.log")
	if err != nil {
		return nil, a, err
	}
	s, err := server.Start(ctx, server.Options{Config: cfg, DataDir: dir, Log: slog.New(slog.NewTextHandler(logf, nil))})
	if err != nil {
		logf.Close()
		os.RemoveAll(dir)
		return nil, a, err
	}
	c := s.Keystone.Credentials()
	a = conformance.Admin{
		IdentityURL: s.URL + "/identity/v3", Region: c.Region,
		User: c.Admin.UserName, Password: c.Admin.Password, Project: c.Admin.ProjectName, Domain: "Default",
	}
	return func() { s.Close(); logf.Close(); os.RemoveAll(dir) }, a, nil
}

// readOpenRC reads the OS_* exports of an openrc file.
func readOpenRC(path string) (conformance.Admin, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return conformance.Admin{}, err
	}
	return parseOpenRC(strings.NewReader(string(data)))
}

func parseOpenRC(r io.Reader) (conformance.Admin, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return conformance.Admin{}, err
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "export "); ok {
			k, v, _ := strings.Cut(rest, "=")
			env[k] = strings.Trim(v, `'"`)
		}
	}
	a := conformance.Admin{
		IdentityURL: env["OS_AUTH_URL"], Region: env["OS_REGION_NAME"], User: env["OS_USERNAME"],
		Password: env["OS_PASSWORD"], Project: env["OS_PROJECT_NAME"], Domain: env["OS_USER_DOMAIN_NAME"],
	}
	if a.IdentityURL == "" || a.User == "" || a.Password == "" || a.Project == "" {
		return a, fmt.Errorf("openrc: OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME are required")
	}
	return a, nil
}
