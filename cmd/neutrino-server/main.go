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
	"github.com/neutrino-net/neutrino/internal/version"
)

func main() {
	cfgPath := flag.String("config", "", "INI configuration file (neutron.conf/ml2_conf.ini option names); read before any --config-file")
	var cfgFiles config.Files
	flag.Var(&cfgFiles, "config-file", "INI configuration file, repeatable as neutron-server's (--config-file neutron.conf --config-file ml2_conf.ini); later files override earlier ones")
	dataDir := flag.String("data-dir", "/var/lib/neutrino", "directory for the embedded etcd and the generated openrc files")
	endpoints := flag.String("etcd-endpoints", "", "comma-separated etcd endpoints of an external cluster (default: embedded etcd)")
	etcdCert := flag.String("etcd-cert-file", "", "client certificate for etcd (PEM; overrides [etcd] cert_file)")
	etcdKey := flag.String("etcd-key-file", "", "key of the etcd client certificate (PEM; overrides [etcd] key_file)")
	etcdCA := flag.String("etcd-ca-file", "", "CA that signed the etcd members' certificates (PEM; overrides [etcd] ca_file)")
	etcdUser := flag.String("etcd-username", "", "etcd user (overrides [etcd] username); the password comes from [etcd] password or $NEUTRINO_ETCD_PASSWORD")
	signingKey := flag.String("signing-key-file", "", "token signing key file of the built-in Keystone (overrides [identity] signing_key_file; default <data-dir>/signing-key)")
	unixSocket := flag.String("unix-socket", "", "also serve the API on this Unix socket path")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.String("neutrino-server"))
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := config.LoadFiles(cfgFiles.After(*cfgPath))
	if err != nil {
		fmt.Fprintln(os.Stderr, "neutrino-server:", err)
		os.Exit(2)
	}
	config.LogIgnored(log, cfg.Ignored)
	override := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	override(&cfg.Etcd.CertFile, *etcdCert)
	override(&cfg.Etcd.KeyFile, *etcdKey)
	override(&cfg.Etcd.CAFile, *etcdCA)
	override(&cfg.Etcd.Username, *etcdUser)
	// Not a flag: command lines are visible to every local user.
	override(&cfg.Etcd.Password, os.Getenv("NEUTRINO_ETCD_PASSWORD"))
	override(&cfg.SigningKeyFile, *signingKey)
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
