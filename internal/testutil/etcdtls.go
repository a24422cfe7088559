package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// EtcdTLS is an etcd that serves clients over TLS and requires client
// certificates signed by its CA.
type EtcdTLS struct {
	Endpoints []string // https://127.0.0.1:port
	CAFile    string   // the CA that signed etcd's and the client's certificates
	CertFile  string   // a client certificate etcd accepts
	KeyFile   string
	// OtherCAFile, OtherCertFile and OtherKeyFile come from an unrelated
	// CA: etcd refuses the certificate, and the CA does not vouch for etcd.
	OtherCAFile, OtherCertFile, OtherKeyFile string
}

// RunEtcdTLS starts Debian's etcd with client TLS and client certificate
// authentication, with certificates generated for the test; it skips the
// test if etcd is not installed.
func RunEtcdTLS(t testing.TB) EtcdTLS {
	t.Helper()
	dir := t.TempDir()
	ca := newCA(t, "neutrino test etcd CA")
	other := newCA(t, "unrelated CA")
	e := EtcdTLS{
		CAFile:      ca.write(t, dir, "ca"),
		OtherCAFile: other.write(t, dir, "other-ca"),
	}
	srvCert, srvKey := ca.issue(t, dir, "etcd-server", true)
	e.CertFile, e.KeyFile = ca.issue(t, dir, "client", false)
	e.OtherCertFile, e.OtherKeyFile = other.issue(t, dir, "other-client", false)
	client := strings.Replace(freeURL(t), "http://", "https://", 1)
	e.Endpoints = []string{client}
	pair, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}
	startEtcd(t, client, hc, "--cert-file", srvCert, "--key-file", srvKey,
		"--client-cert-auth", "--trusted-ca-file", e.CAFile)
	return e
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) write(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name+".pem")
	writePEM(t, p, "CERTIFICATE", ca.cert.Raw)
	return p
}

// issue signs a certificate for 127.0.0.1 usable as server and client
// (etcd checks client certificates for client auth usage) and writes it
// with its key; it returns the two paths.
func (ca *testCA) issue(t testing.TB, dir, name string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
