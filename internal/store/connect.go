package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ConnectOptions say how to reach an external etcd cluster. They mirror
// etcdctl's --cert, --key, --cacert and --user.
type ConnectOptions struct {
	Endpoints []string
	// CertFile and KeyFile are this server's client certificate and key
	// (PEM), for clusters started with --client-cert-auth.
	CertFile, KeyFile string
	// CAFile is the CA (PEM) that signed the etcd members' certificates.
	// Without it the system roots are used.
	CAFile string
	// Username and Password authenticate to etcd (etcd auth enabled).
	Username, Password string
	// Prefix is where the server keeps its keys; the start-up check
	// reads it, so a user whose role covers only this prefix passes.
	Prefix string
	// CheckTimeout bounds the start-up check. Default 5s.
	CheckTimeout time.Duration
}

// Connect opens a client to an external etcd cluster and checks, within
// CheckTimeout, that it can read the prefix. Certificate, CA and password
// problems come back as errors naming the file or setting at fault,
// instead of a client that retries silently.
func Connect(o ConnectOptions) (*clientv3.Client, error) {
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 5 * time.Second
	}
	tlsCfg, err := clientTLS(o)
	if err != nil {
		return nil, err
	}
	for _, ep := range o.Endpoints {
		if tlsCfg == nil && strings.HasPrefix(ep, "https://") {
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if tlsCfg != nil && strings.HasPrefix(ep, "http://") {
			return nil, fmt.Errorf("etcd endpoint %s: TLS options are set ([etcd] cert_file/key_file/ca_file) but the endpoint is plain http://; use https://", ep)
		}
	}
	if tlsCfg != nil {
		// A TLS mistake would otherwise show only as a deadline after
		// CheckTimeout: find it first, with one HTTPS request.
		for _, ep := range o.Endpoints {
			if err := probeTLS(ep, tlsCfg, o); err != nil {
				return nil, err
			}
		}
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   o.Endpoints,
		DialTimeout: o.CheckTimeout,
		TLS:         tlsCfg,
		Username:    o.Username,
		Password:    o.Password,
	})
	if err != nil {
		return nil, explainConnectError(o, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.CheckTimeout)
	defer cancel()
	_, err = c.Get(ctx, o.Prefix, clientv3.WithPrefix(), clientv3.WithLimit(1), clientv3.WithKeysOnly())
	if err == nil {
		return c, nil
	}
	c.Close()
	return nil, explainConnectError(o, err)
}

// clientTLS builds the client TLS configuration from the files, checking
// each one so that the error names it.
func clientTLS(o ConnectOptions) (*tls.Config, error) {
	if o.CertFile == "" && o.KeyFile == "" && o.CAFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("[etcd] cert_file and key_file must be set together")
	}
	if o.CertFile != "" {
		for _, f := range []string{o.CertFile, o.KeyFile} {
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("etcd client certificate: %w", err)
			}
		}
		pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate %s with key %s: %w", o.CertFile, o.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcd CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA %s: no PEM certificate in it", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// explainConnectError turns a failed start-up check into a message an
// operator can act on.
func explainConnectError(o ConnectOptions, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return fmt.Errorf("etcd %v: authentication failed for [etcd] username %q: wrong user name or password", o.Endpoints, o.Username)
	case errors.Is(err, rpctypes.ErrUserEmpty):
		return fmt.Errorf("etcd %v requires authentication: set [etcd] username and password", o.Endpoints)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("etcd %v: user %q may not read %s: grant its role readwrite on that prefix (etcdctl role grant-permission --prefix)", o.Endpoints, o.Username, o.Prefix)
	}
	return fmt.Errorf("etcd %v not reachable within %s: %w", o.Endpoints, o.CheckTimeout, err)
}

// probeTLS makes one HTTPS request to an etcd member with the client's TLS
// settings. Any HTTP answer means TLS works; a TLS failure is returned
// with the setting that most likely causes it.
func probeTLS(ep string, cfg *tls.Config, o ConnectOptions) error {
	u, err := url.Parse(ep)
	if err != nil || u.Scheme != "https" {
		return nil
	}
	cl := &http.Client{Timeout: o.CheckTimeout, Transport: &http.Transport{TLSClientConfig: cfg.Clone()}}
	resp, err := cl.Get("https://" + u.Host + "/version")
	if err == nil {
		resp.Body.Close()
		return nil
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var verifyErr *tls.CertificateVerificationError
	msg := err.Error()
	switch {
	case errors.As(err, &unknownCA) || (errors.As(err, &verifyErr) && !errors.As(err, &hostErr)):
		ca := o.CAFile
		if ca == "" {
			ca = "(unset: system roots)"
		}
		return fmt.Errorf("etcd %s: its certificate is not signed by [etcd] ca_file %s: %v", ep, ca, rootCause(err))
	case errors.As(err, &hostErr):
		return fmt.Errorf("etcd %s: its certificate does not name this host: %v", ep, rootCause(err))
	case strings.Contains(msg, "remote error: tls:") && o.CertFile == "":
		return fmt.Errorf("etcd %s requires a client certificate (%v): set [etcd] cert_file and key_file", ep, rootCause(err))
	case strings.Contains(msg, "remote error: tls:"):
		return fmt.Errorf("etcd %s refused this server's client certificate [etcd] cert_file %s (%v): it must be signed by a CA etcd trusts (etcd --trusted-ca-file)", ep, o.CertFile, rootCause(err))
	case strings.Contains(msg, "tls:"):
		return fmt.Errorf("etcd %s: TLS handshake failed: %v", ep, rootCause(err))
	}
	return nil
}

func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
