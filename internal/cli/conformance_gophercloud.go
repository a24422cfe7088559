package cli

import (
	"io"

	"github.com/neutrino-net/neutrino/internal/conformance"
	"github.com/spf13/cobra"
)

func newConformanceGophercloud() *cobra.Command {
	var o conformance.GophercloudOptions
	var serverURL, openrc string
	var verbose bool
	var physnet string
	cmd := &cobra.Command{
		Use:   "gophercloud",
		Short: "Run gophercloud's networking acceptance tests",
		Long: `Download gophercloud (` + conformance.GophercloudModule + `@` + conformance.GophercloudVersion + `
by default) through the Go module proxy into a cache of its own, run its
networking acceptance tests (` + conformance.GophercloudPackages + `, -tags acceptance)
as the server's admin, and print pass/fail/skip, each failing test with
what it logged last, and the skips grouped by reason.

The server is chosen as for "conformance tempest": an in-process one by
default, or --server with the admin-openrc of a running one (e.g. the
sandbox's, whose agents the agent, scheduler and router interface tests
need: they wait for the interface port to turn ACTIVE). The server's
first external network is the tests' OS_EXTGW_ID; a flat "public" one
is made when there is none. Needs the go command.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			t, stop, err := conformanceTarget(ctx, serverURL, openrc, physnet)
			if err != nil {
				return err
			}
			defer stop()
			o.Target = t
			if verbose {
				o.Output = cmd.ErrOrStderr()
			} else {
				o.Output = io.Discard
			}
			res, err := conformance.RunGophercloud(ctx, o)
			if res != nil {
				res.WriteSummary(cmd.OutOrStdout())
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&serverURL, "server", "", "test a running neutrino-server (default: start one in-process)")
	f.StringVar(&openrc, "openrc", "", "admin-openrc of the --server's built-in Keystone")
	f.StringVar(&o.Version, "version", conformance.GophercloudVersion, "gophercloud release")
	f.StringVar(&o.Run, "run", "", "go test -run: the tests to run (default: all)")
	f.StringVar(&o.Skip, "skip", "", "go test -skip: tests not to run")
	f.StringVar(&o.CacheDir, "cache", "", "module and build cache (default: <user cache dir>/neutrino/gophercloud)")
	f.StringVar(&o.Branch, "branch", "master", "OS_BRANCH the tests see (some skip by release)")
	f.StringVar(&physnet, "public-physnet", "public", "the server has no external network: make a flat one \"public\" (203.0.113.0/24) on this physical network (the sandbox's is \"external\")")
	f.BoolVar(&verbose, "verbose", false, "print go test's JSON stream to stderr")
	return cmd
}
