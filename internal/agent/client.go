package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// newHTTPClient returns a client for server_url; unix:// URLs (the
// sandbox) dial a socket file, which works from any network namespace.
func newHTTPClient(serverURL string) (*http.Client, string) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	base := serverURL
	if path, ok := strings.CutPrefix(serverURL, "unix://"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		base = "http://neutrino-server"
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, strings.TrimSuffix(base, "/")
}

// tokenSource gets and renews a Keystone token for the agent credential
// ([agent_auth]); with no auth_url the agent uses noauth headers.
type tokenSource struct {
	cfg    map[string]string
	client *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

func (ts *tokenSource) headers(ctx context.Context) (http.Header, error) {
	h := http.Header{}
	if ts.cfg["auth_url"] == "" {
		h.Set("X-Project-Id", "service")
		h.Set("X-Roles", "service")
		return h, nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token == "" || time.Until(ts.expires) < 5*time.Minute {
		if err := ts.renewLocked(ctx); err != nil {
			return nil, err
		}
	}
	h.Set("X-Auth-Token", ts.token)
	return h, nil
}

func (ts *tokenSource) renewLocked(ctx context.Context) error {
	c := ts.cfg
	dom := func(idKey, nameKey string) map[string]string {
		if c[idKey] != "" {
			return map[string]string{"id": c[idKey]}
		}
		if c[nameKey] != "" {
			return map[string]string{"name": c[nameKey]}
		}
		return map[string]string{"id": "default"}
	}
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": c["username"], "password": c["password"], "domain": dom("user_domain_id", "user_domain_name")}}},
		"scope": map[string]any{"project": map[string]any{"name": c["project_name"], "domain": dom("project_domain_id", "project_domain_name")}},
	}}
	b, _ := json.Marshal(body)
	url := strings.TrimSuffix(c["auth_url"], "/")
	if !strings.HasSuffix(url, "/v3") {
		url += "/v3"
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url+"/auth/tokens", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.client.Do(req)
	if err != nil {
		return fmt.Errorf("agent token from %s: %w", url, err)
	}
	defer resp.Body.Close()
	var out struct {
		Token struct {
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"token"`
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("agent token from %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	ts.token, ts.expires = resp.Header.Get("X-Subject-Token"), out.Token.ExpiresAt
	return nil
}
