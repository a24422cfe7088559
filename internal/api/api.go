// Package api serves the OpenStack Networking v2.0 API: upstream's URLs,
// JSON shapes, query semantics, status codes, NeutronError bodies and
// default policy, over the etcd store.
//
// Every write is planned against a consistent view of the store cache and
// committed as one guarded etcd transaction (store.Update); a failed
// request therefore changes nothing. Reads are served from the cache.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/control"
	"github.com/neutrino-net/neutrino/internal/identity"
	"github.com/neutrino-net/neutrino/internal/ipam"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// Options wires the API to its collaborators.
type Options struct {
	Config   config.Server
	Store    *store.Store
	Auth     identity.Authenticator
	Identity http.Handler // the built-in Keystone, served under /identity; nil if external
	Log      *slog.Logger
	Now      func() time.Time
}

// API is the Neutron v2.0 HTTP service.
type API struct {
	cfg      config.Server
	st       *store.Store
	auth     identity.Authenticator
	identity http.Handler
	log      *slog.Logger
	now      func() time.Time
	segments *segmentPools
	mux      *http.ServeMux
	ctl      *control.Control
	// lines is the agent streams' last small event line, shared by the
	// streams that send the same event (agentWatch).
	lines syncproto.LineCache
}

// New builds the API. It fails on configuration it cannot use (bad ML2
// ranges, bad base MAC).
func New(o Options) (*API, error) {
	a := &API{cfg: o.Config, st: o.Store, auth: o.Auth, identity: o.Identity, log: o.Log, now: o.Now}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	seg, err := newSegmentPools(o.Config)
	if err != nil {
		return nil, err
	}
	a.segments = seg
	if err := validateBaseMAC(o.Config.BaseMAC); err != nil {
		return nil, err
	}
	a.ctl = control.New(control.Options{Config: o.Config, Store: o.Store, Ports: controlPorts{a}, Log: a.log, Now: a.now})
	a.routes()
	return a, nil
}

// StartBookkeeping starts the control plane's bookkeeping loop; the
// returned function stops it and waits until it has.
func (a *API) StartBookkeeping() (stop func()) { return a.ctl.Start() }

// Control is the control plane behind the API (for the metrics).
func (a *API) Control() *control.Control { return a.ctl }

// Resource names what a request is about, for the metrics: the first
// path segment of the route it matches ("networks", "routers", "agent"
// for the agent protocol, "identity"), "watch" for an agent's watch
// stream, "other" when no route matches. The routes are a fixed set, so
// the label's values are bounded whatever clients send.
func (a *API) Resource(r *http.Request) string {
	_, pattern := a.mux.Handler(r)
	if pattern == "" {
		return "other"
	}
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = p
	}
	if strings.HasSuffix(pattern, "/watch") {
		return "watch"
	}
	p := strings.TrimPrefix(strings.TrimPrefix(pattern, "/v2.0"), "/")
	seg, _, _ := strings.Cut(p, "/")
	if seg == "" || seg == "{$}" {
		return "versions"
	}
	return seg
}

// Prepare renders a new entry of kind once (its memo), as the store
// decodes a write's own commit off the request's path
// (store.WithPrepare): the create's reply and the next list then find
// it rendered.
func Prepare(kind string, e *store.Entry) {
	if d := resources[kind]; d != nil {
		d.memoOf(e)
	}
}

// Decoders are the resource kinds the store must know.
func Decoders() map[string]store.Decoder {
	out := map[string]store.Decoder{}
	for _, d := range resources {
		out[d.kind] = d.decode
	}
	return out
}

// reqCtx is who is calling.
type reqCtx struct {
	context.Context
	id      *identity.Context
	admin   bool
	project string
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c *reqCtx) error

func (a *API) routes() {
	m := http.NewServeMux()
	a.mux = m
	m.HandleFunc("/{$}", a.versions)
	m.HandleFunc("GET /v2.0/{$}", a.plain(a.resourceIndex))
	m.HandleFunc("GET /v2.0/extensions", a.plain(a.listExtensions))
	m.HandleFunc("GET /v2.0/extensions/{alias}", a.plain(a.showExtension))
	for _, d := range resources {
		if d.path == "" {
			continue
		}
		base := "/v2.0/" + d.path
		m.HandleFunc("GET "+base, a.wrap(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error { return a.list(w, r, c, d) }))
		m.HandleFunc("GET "+base+"/{id}", a.wrap(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error { return a.show(w, r, c, d) }))
		if d.create != nil {
			m.HandleFunc("POST "+base, a.wrap(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error { return a.create(w, r, c, d) }))
		}
		if d.update != nil {
			m.HandleFunc("PUT "+base+"/{id}", a.wrap(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error { return a.update(w, r, c, d) }))
		}
		if d.delete != nil {
			m.HandleFunc("DELETE "+base+"/{id}", a.wrap(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error { return a.remove(w, r, c, d) }))
		}
		if d.tags {
			m.HandleFunc("GET "+base+"/{id}/tags", a.wrap(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error { return a.tagsGet(w, r, c, d) }))
			m.HandleFunc("PUT "+base+"/{id}/tags", a.wrap(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error { return a.tagsReplace(w, r, c, d) }))
			m.HandleFunc("DELETE "+base+"/{id}/tags", a.wrap(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error { return a.tagsClear(w, r, c, d) }))
			m.HandleFunc("GET "+base+"/{id}/tags/{tag}", a.wrap(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error { return a.tagHas(w, r, c, d) }))
			m.HandleFunc("PUT "+base+"/{id}/tags/{tag}", a.wrap(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error { return a.tagAdd(w, r, c, d) }))
			m.HandleFunc("DELETE "+base+"/{id}/tags/{tag}", a.wrap(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error { return a.tagRemove(w, r, c, d) }))
		}
	}
	m.HandleFunc("PUT /v2.0/routers/{id}/{action}", a.wrap(a.routerAction))
	m.HandleFunc("PUT /v2.0/address-groups/{id}/{action}", a.wrap(a.addressGroupAction))
	m.HandleFunc("PUT /v2.0/subnetpools/{id}/{action}", a.wrap(a.subnetPoolAction))
	a.agentRoutes(m)
	a.agentAPIRoutes(m)
	m.HandleFunc("GET /v2.0/quotas", a.wrap(a.listQuotas))
	m.HandleFunc("GET /v2.0/quotas/{project}", a.wrap(a.showQuota))
	m.HandleFunc("GET /v2.0/quotas/{project}/default", a.wrap(a.showDefaultQuota))
	m.HandleFunc("GET /v2.0/quotas/{project}/details", a.wrap(a.showQuotaDetails))
	m.HandleFunc("PUT /v2.0/quotas/{project}", a.wrap(a.updateQuota))
	m.HandleFunc("DELETE /v2.0/quotas/{project}", a.wrap(a.deleteQuota))
	m.HandleFunc("GET /v2.0/network-ip-availabilities", a.wrap(a.listIPAvailability))
	m.HandleFunc("GET /v2.0/network-ip-availabilities/{id}", a.wrap(a.showIPAvailability))
	m.HandleFunc("GET /v2.0/availability_zones", a.wrap(a.listAvailabilityZones))
	m.HandleFunc("GET /v2.0/service-providers", a.wrap(a.listServiceProviders))
	m.HandleFunc("GET /v2.0/floatingip-pools", a.wrap(a.listFIPPools))
	if a.identity != nil {
		m.Handle("/identity/", http.StripPrefix("/identity", a.identity))
		m.Handle("/identity", http.StripPrefix("/identity", a.identity))
	}
}

// ServeHTTP applies what every request needs before routing: the ".json"
// suffix, and the body size limit.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p, ok := strings.CutSuffix(r.URL.Path, ".json"); ok && strings.HasPrefix(p, "/v2.0") {
		r.URL.Path = p
		r.URL.RawPath = ""
	}
	if r.ContentLength > a.cfg.MaxRequestBodySize {
		a.writeError(w, newErr(http.StatusRequestEntityTooLarge, "HTTPRequestEntityTooLarge", "Request is too large."))
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxRequestBodySize)
	}
	if _, pattern := a.mux.Handler(r); pattern == "" || r.URL.Path == "/v2.0" {
		// Unknown URL or method: upstream answers 404 (405 only at "/").
		// "/v2.0" needs its trailing slash (the mux would redirect).
		a.writeError(w, errResourceNotFound)
		return
	}
	if r.URL.Path != "/" {
		// Every request sees every change acknowledged before it arrived,
		// by whichever server (docs/consistency.md): reads, the views
		// writes are planned on, and token revocations.
		if err := a.st.Sync(r.Context()); err != nil {
			a.writeError(w, err)
			return
		}
	}
	a.mux.ServeHTTP(w, r)
}

// wrap authenticates the caller and renders errors.
func (a *API) wrap(fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := a.auth.Authenticate(r)
		if err != nil {
			if errors.Is(err, identity.ErrUnauthorized) {
				w.Header().Set("WWW-Authenticate", "Keystone uri='"+a.cfg.PublicURL+"/identity'")
				a.writeError(w, newErr(http.StatusUnauthorized, "HTTPUnauthorized", "The request you have made requires authentication."))
				return
			}
			a.writeError(w, err)
			return
		}
		c := &reqCtx{Context: r.Context(), id: id, admin: id.IsAdmin(), project: id.ProjectID}
		if isAgent(c) && strings.HasPrefix(r.URL.Path, "/v2.0/") {
			// An agent credential speaks the agent protocol only.
			a.writeError(w, policyDenied("agent_credential"))
			return
		}
		if err := fn(w, r, c); err != nil {
			a.writeError(w, err)
		}
	}
}

// plain serves documents that need a valid caller but no project.
func (a *API) plain(fn func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return a.wrap(func(w http.ResponseWriter, r *http.Request, _ *reqCtx) error { return fn(w, r) })
}

func validateBaseMAC(s string) error { return ipam.ParseBaseMAC(s) }
