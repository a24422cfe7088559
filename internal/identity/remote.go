package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RemoteConfig is the [keystone_authtoken] configuration of Remote.
type RemoteConfig struct {
	// AuthURL is the Keystone URL, with or without the "/v3" suffix.
	AuthURL  string
	Username string
	Password string
	// ProjectName (or ProjectID) scopes the service token. The service
	// user needs the service or admin role to validate tokens.
	ProjectName       string
	ProjectID         string
	UserDomainName    string
	UserDomainID      string
	ProjectDomainName string
	ProjectDomainID   string
	// WWWAuthenticateURI, if set, is advertised in WWW-Authenticate.
	WWWAuthenticateURI string
	// CacheTTL bounds how long a validated token is trusted without
	// asking Keystone again (never beyond its expiry). Default 5 minutes.
	CacheTTL time.Duration
	// MaxCacheEntries bounds the validation cache. Default 10000.
	MaxCacheEntries int
	// Now is the clock (for tests). Default time.Now.
	Now func() time.Time
}

// RemoteConfigFromMap reads the keystonemiddleware option names of a
// [keystone_authtoken] section (e.g. an ini section's KeysHash()): auth_url,
// username, password, project_name, project_id, user_domain_name,
// user_domain_id, project_domain_name, project_domain_id,
// www_authenticate_uri (or the older auth_uri) and token_cache_time
// (seconds).
func RemoteConfigFromMap(m map[string]string) RemoteConfig {
	c := RemoteConfig{
		AuthURL:            m["auth_url"],
		Username:           m["username"],
		Password:           m["password"],
		ProjectName:        m["project_name"],
		ProjectID:          m["project_id"],
		UserDomainName:     m["user_domain_name"],
		UserDomainID:       m["user_domain_id"],
		ProjectDomainName:  m["project_domain_name"],
		ProjectDomainID:    m["project_domain_id"],
		WWWAuthenticateURI: m["www_authenticate_uri"],
	}
	if c.WWWAuthenticateURI == "" {
		c.WWWAuthenticateURI = m["auth_uri"]
	}
	if s, err := strconv.Atoi(m["token_cache_time"]); err == nil && s > 0 {
		c.CacheTTL = time.Duration(s) * time.Second
	}
	return c
}

// Remote validates tokens against an external Keystone, as
// keystonemiddleware does: it logs in with the service credentials and
// checks user tokens with GET /v3/auth/tokens, caching positive answers.
// Revocations are therefore noticed only after the cache entry expires
// (CacheTTL, 5 minutes by default, like keystonemiddleware).
type Remote struct {
	cfg    RemoteConfig
	base   string // .../v3
	client *http.Client

	mu         sync.Mutex // service token
	svcToken   string
	svcExpires time.Time

	cacheMu sync.Mutex
	cache   map[string]remoteEntry
}

type remoteEntry struct {
	ctx   Context
	until time.Time
}

// NewRemote returns a Remote; httpClient nil means a client with a 10s
// timeout. No request is made before the first Authenticate.
func NewRemote(cfg RemoteConfig, httpClient *http.Client) *Remote {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 5 * time.Minute
	}
	if cfg.MaxCacheEntries <= 0 {
		cfg.MaxCacheEntries = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base := strings.TrimRight(cfg.AuthURL, "/")
	if !strings.HasSuffix(base, "/v3") {
		base += "/v3"
	}
	return &Remote{cfg: cfg, base: base, client: httpClient, cache: make(map[string]remoteEntry)}
}

// WWWAuthenticate is the value for the WWW-Authenticate header of 401
// answers ("" when www_authenticate_uri is not configured).
func (rm *Remote) WWWAuthenticate() string {
	if rm.cfg.WWWAuthenticateURI == "" {
		return ""
	}
	return `Keystone uri="` + rm.cfg.WWWAuthenticateURI + `"`
}

// Authenticate validates X-Auth-Token with Keystone (or the cache). Tokens
// that are not project scoped are refused.
func (rm *Remote) Authenticate(r *http.Request) (*Context, error) {
	tok := r.Header.Get("X-Auth-Token")
	if tok == "" {
		return nil, fmt.Errorf("%w: no X-Auth-Token", ErrUnauthorized)
	}
	now := rm.cfg.Now()
	rm.cacheMu.Lock()
	e, ok := rm.cache[tok]
	rm.cacheMu.Unlock()
	if ok && now.Before(e.until) {
		c := e.ctx
		c.Roles = append([]string(nil), c.Roles...)
		return &c, nil
	}
	c, expires, err := rm.validate(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	until := now.Add(rm.cfg.CacheTTL)
	if expires.Before(until) {
		until = expires
	}
	rm.remember(tok, remoteEntry{ctx: *c, until: until}, now)
	out := *c
	out.Roles = append([]string(nil), c.Roles...)
	return &out, nil
}

func (rm *Remote) remember(tok string, e remoteEntry, now time.Time) {
	rm.cacheMu.Lock()
	defer rm.cacheMu.Unlock()
	if len(rm.cache) >= rm.cfg.MaxCacheEntries {
		for t, old := range rm.cache {
			if !now.Before(old.until) {
				delete(rm.cache, t)
			}
		}
		// Still full: drop arbitrary entries (a tenth of the cache).
		for t := range rm.cache {
			if len(rm.cache) < rm.cfg.MaxCacheEntries*9/10 {
				break
			}
			delete(rm.cache, t)
		}
	}
	rm.cache[tok] = e
}

// remoteToken is the part of keystone's token body Remote reads.
type remoteToken struct {
	Token struct {
		ExpiresAt time.Time `json:"expires_at"`
		User      struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"user"`
		Project *struct {
			ID     string `json:"id"`
			Name   string `json:"name"`
			Domain struct {
				ID string `json:"id"`
			} `json:"domain"`
		} `json:"project"`
		Roles []struct {
			Name string `json:"name"`
		} `json:"roles"`
	} `json:"token"`
}

func (rm *Remote) validate(ctx context.Context, tok string) (*Context, time.Time, error) {
	for attempt := 0; ; attempt++ {
		svc, err := rm.serviceToken(ctx)
		if err != nil {
			return nil, time.Time{}, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rm.base+"/auth/tokens?nocatalog", nil)
		if err != nil {
			return nil, time.Time{}, err
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Auth-Token", svc)
		req.Header.Set("X-Subject-Token", tok)
		resp, err := rm.client.Do(req)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("identity: validating token with keystone: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("identity: validating token with keystone: %w", err)
		}
		switch {
		case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNonAuthoritativeInfo:
			return parseRemoteToken(body, tok)
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0:
			// Our service token is no longer accepted: get a new one.
			rm.dropServiceToken(svc)
			continue
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusNotFound:
			return nil, time.Time{}, fmt.Errorf("%w: keystone rejected the token", ErrUnauthorized)
		default:
			return nil, time.Time{}, fmt.Errorf("identity: keystone answered %s to token validation", resp.Status)
		}
	}
}

func parseRemoteToken(body []byte, tok string) (*Context, time.Time, error) {
	var t remoteToken
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, time.Time{}, fmt.Errorf("identity: bad token validation answer from keystone: %w", err)
	}
	if t.Token.Project == nil || t.Token.Project.ID == "" {
		return nil, time.Time{}, fmt.Errorf("%w: token is not project scoped", ErrUnauthorized)
	}
	roles := make([]string, 0, len(t.Token.Roles))
	for _, r := range t.Token.Roles {
		roles = append(roles, r.Name)
	}
	return &Context{
		UserID:      t.Token.User.ID,
		UserName:    t.Token.User.Name,
		ProjectID:   t.Token.Project.ID,
		ProjectName: t.Token.Project.Name,
		DomainID:    t.Token.Project.Domain.ID,
		Roles:       expandRoles(roles),
		AuthToken:   tok,
	}, t.Token.ExpiresAt, nil
}

// serviceToken returns the cached service token, logging in again when
// there is none or it expires within a minute.
func (rm *Remote) serviceToken(ctx context.Context) (string, error) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.svcToken != "" && rm.cfg.Now().Add(time.Minute).Before(rm.svcExpires) {
		return rm.svcToken, nil
	}
	tok, exp, err := rm.login(ctx)
	if err != nil {
		return "", err
	}
	rm.svcToken, rm.svcExpires = tok, exp
	return tok, nil
}

func (rm *Remote) dropServiceToken(tok string) {
	rm.mu.Lock()
	if rm.svcToken == tok {
		rm.svcToken = ""
	}
	rm.mu.Unlock()
}

func domainRef(id, name string) map[string]string {
	if id != "" {
		return map[string]string{"id": id}
	}
	if name != "" {
		return map[string]string{"name": name}
	}
	return map[string]string{"id": DefaultDomainID}
}

// login gets a service token by password authentication.
func (rm *Remote) login(ctx context.Context) (string, time.Time, error) {
	auth := map[string]any{"identity": map[string]any{
		"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{
			"name": rm.cfg.Username, "password": rm.cfg.Password,
			"domain": domainRef(rm.cfg.UserDomainID, rm.cfg.UserDomainName),
		}},
	}}
	switch {
	case rm.cfg.ProjectID != "":
		auth["scope"] = map[string]any{"project": map[string]any{"id": rm.cfg.ProjectID}}
	case rm.cfg.ProjectName != "":
		auth["scope"] = map[string]any{"project": map[string]any{
			"name": rm.cfg.ProjectName, "domain": domainRef(rm.cfg.ProjectDomainID, rm.cfg.ProjectDomainName),
		}}
	}
	data, err := json.Marshal(map[string]any{"auth": auth})
	if err != nil {
		return "", time.Time{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rm.base+"/auth/tokens?nocatalog", bytes.NewReader(data))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := rm.client.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("identity: keystone service login: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Token struct {
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"token"`
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", time.Time{}, fmt.Errorf("identity: keystone service login as %q: %s", rm.cfg.Username, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&body); err != nil {
		return "", time.Time{}, fmt.Errorf("identity: keystone service login: %w", err)
	}
	tok := resp.Header.Get("X-Subject-Token")
	if tok == "" {
		return "", time.Time{}, fmt.Errorf("identity: keystone service login: no X-Subject-Token")
	}
	return tok, body.Token.ExpiresAt, nil
}
