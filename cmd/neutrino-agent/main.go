// Command neutrino-agent runs on every network and compute node: it
// follows the server's view of its host and builds the host's data plane.
//
//	neutrino-agent --config /etc/neutrino/agent.ini        run
//	neutrino-agent --config /etc/neutrino/agent.ini plan   print the desired state
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
)

func main() {
	cfgPath := flag.String("config", "/etc/neutrino/agent.ini", "agent INI file")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: neutrino-agent [--config FILE] [plan]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	cfg, err := agent.LoadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "neutrino-agent:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
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
	default:
		fmt.Fprintf(os.Stderr, "neutrino-agent: unknown command %q\n", flag.Arg(0))
		os.Exit(2)
	}
}
