// Command neutrino-server serves the OpenStack Networking v2.0 API with its
// state in etcd (embedded by default).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/server"
)

func main() {
	cfgPath := flag.String("config", "", "INI configuration file (neutron.conf/ml2_conf.ini option names)")
	dataDir := flag.String("data-dir", "/var/lib/neutrino", "directory for the embedded etcd and the generated openrc files")
	endpoints := flag.String("etcd-endpoints", "", "comma-separated etcd endpoints of an external cluster (default: embedded etcd)")
	unixSocket := flag.String("unix-socket", "", "also serve the API on this Unix socket path")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "neutrino-server:", err)
		os.Exit(2)
	}
	var eps []string
	for _, e := range strings.Split(*endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.Start(ctx, server.Options{Config: cfg, DataDir: *dataDir, EtcdEndpoints: eps, UnixSocket: *unixSocket, Log: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "neutrino-server:", err)
		os.Exit(1)
	}
	if srv.Keystone != nil {
		log.Info("credentials written", "admin", *dataDir+"/admin-openrc", "demo", *dataDir+"/demo-openrc")
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "neutrino-server:", err)
		os.Exit(1)
	}
}
