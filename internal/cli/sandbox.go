package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/spf13/cobra"
)

func newSandbox() *cobra.Command {
	var dir, prefix string
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "A whole Neutrino deployment on this machine, in network namespaces",
		Long: `A whole Neutrino deployment on this machine, in network namespaces:
a network node (network1, agent_mode dvr_snat) and compute nodes
(compute1..N, dvr) joined by a tunnel network (10.0.1.0/24) and an external
network (203.0.113.0/24, physnet "external" on each host's eth1), an upstream
router at 203.0.113.1 with an "internet" host (198.51.100.10) behind it, a
neutrino-server (built-in Keystone, embedded etcd) and one agent per host,
and fake instances that get their address by DHCP from Neutrino.

State, logs and the admin-openrc and demo-openrc files live in --dir, so
that after "source <dir>/admin-openrc" the openstack CLI works against it.
Needs root.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&dir, "dir", sandbox.DefaultDir, "state directory (server data, logs, openrc files)")
	pf.StringVar(&prefix, "prefix", "", "prefix of the namespace names (default: the sandbox's, else "+sandbox.DefaultPrefix+")")
	load := func() (*sandbox.State, error) {
		st, err := sandbox.LoadState(dir)
		if err != nil {
			return nil, err
		}
		if prefix != "" && prefix != st.Prefix {
			return nil, fmt.Errorf("the sandbox in %s has prefix %s, not %s", dir, st.Prefix, prefix)
		}
		return st, nil
	}
	cmd.AddCommand(
		newSandboxDemo(&dir, &prefix),
		newSandboxUp(&dir, &prefix),
		newSandboxDown(&dir, &prefix),
		newSandboxStatus(load),
		newSandboxBoot(load),
		newSandboxRm(load),
		newSandboxExec(load),
		newSandboxFail(load),
		newSandboxHeal(load),
		newSandboxPartition(load),
		newSandboxServe(&dir),
		newSandboxAgent(),
	)
	return cmd
}

func newSandboxUp(dir, prefix *string) *cobra.Command {
	o := sandbox.Options{Computes: sandbox.DefaultComputes, Port: sandbox.DefaultPort}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Build the fabric and start the server and one agent per host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Dir, o.Prefix, o.Out = *dir, *prefix, cmd.ErrOrStderr()
			st, err := sandbox.Up(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "sandbox %s is up: API %s, hosts network1..%d and compute1..%d\n", st.Prefix, st.URL(), max(st.NetworkNodes, 1), st.Computes)
			fmt.Fprintf(out, "  source %s/admin-openrc   # or demo-openrc, then use the openstack CLI\n", st.Dir)
			fmt.Fprintf(out, "  neutrino sandbox boot --network NET --host compute1 vm1\n")
			fmt.Fprintf(out, "  neutrino sandbox exec vm1 -- ping %s\n", sandbox.InternetIP)
			if m := st.MetricsURL("server"); m != "" {
				fmt.Fprintf(out, "  curl %s/metrics   # the agents' listeners: neutrino sandbox status\n", m)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Computes, "computes", o.Computes, "number of compute hosts")
	f.IntVar(&o.NetworkNodes, "network-nodes", 1, "number of network nodes (dvr_snat hosts network1..N: HA routers need two)")
	f.IntVar(&o.Port, "port", o.Port, "API port on 127.0.0.1")
	f.BoolVar(&o.NoAgents, "no-agents", false, "start no agents (fabric and server only)")
	f.DurationVar(&o.ReadyTimeout, "timeout", 60*time.Second, "wait this long for the server, and for the agents to register")
	return cmd
}

func newSandboxDown(dir, prefix *string) *cobra.Command {
	var o sandbox.DownOptions
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop every process and remove every namespace of the sandbox (also after a crash)",
		Long: `Stop every process the sandbox started, delete its namespaces (nodes,
instances, and those its agents made, named ...@<prefix>-<host>) and
remove its runtime files. Logs are kept unless --purge. Safe to run again,
and after a crash: with no state left, give --prefix if it was not the
default.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Dir, o.Prefix, o.Out = *dir, *prefix, cmd.ErrOrStderr()
			return sandbox.Down(o)
		},
	}
	cmd.Flags().BoolVar(&o.Purge, "purge", false, "remove the logs too")
	cmd.Flags().DurationVar(&o.Grace, "grace", 5*time.Second, "wait this long after SIGTERM before SIGKILL")
	return cmd
}

func newSandboxStatus(load func() (*sandbox.State, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the sandbox's nodes, processes, agents and instances",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := load()
			if err != nil {
				return err
			}
			s, err := st.GetStatus(cmd.Context())
			if err != nil {
				return err
			}
			s.Write(cmd.OutOrStdout())
			return nil
		},
	}
}

func newSandboxBoot(load func() (*sandbox.State, error)) *cobra.Command {
	var o sandbox.BootOptions
	cmd := &cobra.Command{
		Use:   "boot --network NET --host HOST NAME",
		Short: "Boot a fake instance: a port bound to HOST and a namespace that gets its address by DHCP",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := load()
			if err != nil {
				return err
			}
			o.Name = args[0]
			in, err := st.Boot(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (port %s on %s, namespace %s)\n", in.Name, in.IP, in.PortID, in.Host, in.Netns)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Network, "network", "", "network name or id")
	f.StringVar(&o.Host, "host", "", "host to bind the port to (network1, compute1, ...)")
	f.StringVar(&o.Project, "project", "", "project (name or id) that owns the port; default: the network's project, as Nova does")
	f.DurationVar(&o.DHCPTimeout, "dhcp-timeout", 30*time.Second, "give up on DHCP after this long")
	_ = cmd.MarkFlagRequired("network")
	_ = cmd.MarkFlagRequired("host")
	return cmd
}

func newSandboxRm(load func() (*sandbox.State, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME...",
		Short: "Delete instances (their ports and namespaces)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := load()
			if err != nil {
				return err
			}
			var errs []error
			for _, n := range args {
				errs = append(errs, st.Remove(cmd.Context(), n))
			}
			return errors.Join(errs...)
		},
	}
}

func newSandboxExec(load func() (*sandbox.State, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "exec NAME -- CMD [ARG...]",
		Short: "Run a command in an instance or a node (network1, computeN, upstream, internet, fabric)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return errors.New("usage: neutrino sandbox exec NAME -- CMD [ARG...]")
			}
			st, err := load()
			if err != nil {
				return err
			}
			// Replaces this process; returns only on failure.
			return st.Exec(args[0], args[1:])
		},
	}
}

func newSandboxServe(dir *string) *cobra.Command {
	var port int
	var metricsBind string
	cmd := &cobra.Command{
		Use:    "serve",
		Short:  "Run the sandbox's neutrino-server (started by up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sandbox.Serve(cmd.Context(), *dir, port, metricsBind, slog.New(slog.NewTextHandler(os.Stderr, nil)))
		},
	}
	cmd.Flags().IntVar(&port, "port", sandbox.DefaultPort, "API port on 127.0.0.1")
	cmd.Flags().StringVar(&metricsBind, "metrics-bind", "", "host:port of the metrics listener ([DEFAULT] metrics_bind)")
	return cmd
}

func newSandboxAgent() *cobra.Command {
	var config string
	var metricsFD int
	cmd := &cobra.Command{
		Use:    "agent",
		Short:  "Run a sandbox host's neutrino-agent (started by up inside the host's namespace)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sandbox.RunAgent(cmd.Context(), config, metricsFD, slog.New(slog.NewTextHandler(os.Stderr, nil)))
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "agent INI file")
	cmd.Flags().IntVar(&metricsFD, "metrics-fd", 0, "inherited listening socket for the metrics (opened by up in the root namespace)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
