package metadata

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Backend is a small stand-in for Nova's metadata API (for the sandbox
// and tests). It trusts a request only if X-Instance-ID-Signature is the
// HMAC-SHA256 of X-Instance-ID under the shared secret, and answers, for
// any version ("latest" or a date such as 2009-04-04):
//
//	GET /<version>/meta-data/             index
//	GET /<version>/meta-data/instance-id  the instance id
//	GET /<version>/meta-data/hostname
//	GET /<version>/meta-data/local-ipv4   X-Forwarded-For
//	GET /openstack/<version>/meta_data.json
//
// Anything else is 404. Use NewBackend.
type Backend struct {
	secret string
	lookup func(instanceID string) (name string, ok bool)

	mu      sync.Mutex
	servers []*http.Server
	closed  bool
}

// NewBackend returns a backend checking signatures with secret. lookup,
// if not nil, names an instance by id; an id it does not know is answered
// 404. With a nil lookup every signed id exists and has no name.
func NewBackend(secret string, lookup func(instanceID string) (name string, ok bool)) *Backend {
	return &Backend{secret: secret, lookup: lookup}
}

var versionRE = regexp.MustCompile(`^(latest|\d{4}-\d{2}-\d{2})$`)

// metaDataKeys are listed by the meta-data index, in this order.
var metaDataKeys = []string{"hostname", "instance-id", "local-ipv4"}

// ServeHTTP implements http.Handler.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	id := r.Header.Get(HeaderInstanceID)
	if id == "" {
		http.Error(w, "X-Instance-ID header is missing from request", http.StatusBadRequest)
		return
	}
	if !Verify(b.secret, id, r.Header.Get(HeaderSignature)) {
		http.Error(w, "Invalid proxy request signature.", http.StatusForbidden)
		return
	}
	var name string
	if b.lookup != nil {
		var ok bool
		if name, ok = b.lookup(id); !ok {
			http.Error(w, "instance not found", http.StatusNotFound)
			return
		}
	}
	host := hostname(name, id)
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) >= 2 && versionRE.MatchString(parts[0]) && parts[1] == "meta-data":
		var body string
		switch strings.Join(parts[2:], "/") {
		case "":
			body = strings.Join(metaDataKeys, "\n") + "\n"
		case "instance-id":
			body = id
		case "hostname":
			body = host
		case "local-ipv4":
			body = r.Header.Get(HeaderForwarded)
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(body))
	case len(parts) == 3 && parts[0] == "openstack" && versionRE.MatchString(parts[1]) && parts[2] == "meta_data.json":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"uuid":       id,
			"name":       name,
			"project_id": r.Header.Get(HeaderTenantID),
			"hostname":   host,
		})
	default:
		http.NotFound(w, r)
	}
}

// hostname is name made DNS-safe (lowercase letters, digits, '-'), or
// "host-<id>" when that leaves nothing.
func hostname(name, id string) string {
	var sb strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			sb.WriteRune(c)
			dash = false
		default:
			if !dash && sb.Len() > 0 {
				sb.WriteByte('-')
				dash = true
			}
		}
	}
	h := strings.TrimRight(sb.String(), "-")
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-")
	}
	if h == "" {
		return "host-" + id
	}
	return h
}

// Serve answers requests on l until l is closed or Close is called.
func (b *Backend) Serve(l net.Listener) error {
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		l.Close()
		return nil
	}
	b.servers = append(b.servers, srv)
	b.mu.Unlock()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ListenAndServeUnix listens on a UNIX socket at path (replacing a stale
// socket file) and serves it like Serve.
func (b *Backend) ListenAndServeUnix(path string) error {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	return b.Serve(l)
}

// Close stops every Serve of this backend, current and later.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	var errs []error
	for _, s := range b.servers {
		errs = append(errs, s.Close())
	}
	b.servers = nil
	return errors.Join(errs...)
}
