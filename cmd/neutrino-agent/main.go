// Command neutrino-agent runs on every network and compute node: it
// follows the server's view of its host and builds the host's data plane.
//
//	neutrino-agent --config /etc/neutrino/agent.ini        run
//	neutrino-agent --config-file neutron.conf --config-file l3_agent.ini ...  run (upstream's files)
//	neutrino-agent --config /etc/neutrino/agent.ini plan   print the desired state, then each port's filter
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/neutrino-net/neutrino/internal/agent"
	"github.com/neutrino-net/neutrino/internal/agent/plan/sgview"
	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/version"
)

const defaultConfig = "/etc/neutrino/agent.ini"

// configFiles: --config (by default /etc/neutrino/agent.ini, unless only
// --config-file are given), then every --config-file in order.
func configFiles(fs *flag.FlagSet, cfgPath string, files config.Files) []string {
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	if !explicit && len(files) > 0 {
		cfgPath = ""
	}
	return files.After(cfgPath)
}

func main() {
	cfgPath := flag.String("config", defaultConfig, "agent INI file; read before any --config-file")
	var cfgFiles config.Files
	flag.Var(&cfgFiles, "config-file", "INI file, repeatable as upstream's agents (--config-file neutron.conf --config-file l3_agent.ini ...); later files override earlier ones")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: neutrino-agent [--config FILE] [--config-file FILE]... [plan]\n       neutrino-agent --version\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *showVersion {
		fmt.Println(version.String("neutrino-agent"))
		return
	}
	cfg, err := agent.LoadConfigFiles(configFiles(flag.CommandLine, *cfgPath, cfgFiles))
	if err != nil {
		fmt.Fprintln(os.Stderr, "neutrino-agent:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	config.LogIgnored(log, cfg.Ignored)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch flag.Arg(0) {
	case "":
		if err := agent.Run(ctx, cfg, log); err != nil {
			fmt.Fprintln(os.Stderr, "neutrino-agent:", err)
			os.Exit(1)
		}
	case "plan":
		a := agent.New(cfg, log)
		snap, err := a.FetchSnapshot(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "neutrino-agent:", err)
			os.Exit(1)
		}
		want, facts := a.Plan(snap)
		fmt.Printf("# host %s at revision %d\n%s# facts\n%s", cfg.Host, snap.Revision, want.String(), facts)
		// Each port's filter, read from the planned tables above.
		fmt.Printf("# security groups per port\n%s", sgview.Render(snap, &want))
	default:
		fmt.Fprintf(os.Stderr, "neutrino-agent: unknown command %q\n", flag.Arg(0))
		os.Exit(2)
	}
}
