package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// openRC reads the exports of an openrc file.
func openRC(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		env[k] = unquote(v)
	}
	return env, sc.Err()
}

// unquote undoes the single quoting identity.WriteOpenRC applies.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return strings.ReplaceAll(v[1:len(v)-1], `'\''`, `'`)
	}
	return v
}

// apiClient talks to the sandbox's server as the user of an openrc file.
type apiClient struct {
	base     string // Neutron endpoint
	identity string // Keystone's path on it (/identity/v3)
	token    string
	hc       *http.Client
}

// unixClient is an HTTP client that dials the server's Unix socket
// whatever the URL's host is.
func unixClient(sock string) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
}

// adminClient logs in as admin with <dir>/admin-openrc, through the
// Unix socket (so it works whatever the loopback port).
func (s *State) adminClient(ctx context.Context) (*apiClient, error) { return s.login(ctx, "admin") }

// login logs in with the credentials of <dir>/<who>-openrc.
func (s *State) login(ctx context.Context, who string) (*apiClient, error) {
	rc, err := openRC(filepath.Join(s.Dir, who+"-openrc"))
	if err != nil {
		return nil, fmt.Errorf("%s credentials: %w", who, err)
	}
	c := &apiClient{base: "http://neutrino", hc: unixClient(s.Socket())}
	authURL := rc["OS_AUTH_URL"]
	i := strings.Index(authURL, "/identity/")
	if i < 0 {
		return nil, fmt.Errorf("admin-openrc: unexpected OS_AUTH_URL %q", authURL)
	}
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{
			"methods": []string{"password"},
			"password": map[string]any{"user": map[string]any{
				"name":     rc["OS_USERNAME"],
				"password": rc["OS_PASSWORD"],
				"domain":   map[string]any{"id": rc["OS_USER_DOMAIN_ID"]},
			}},
		},
		"scope": map[string]any{"project": map[string]any{
			"name":   rc["OS_PROJECT_NAME"],
			"domain": map[string]any{"id": rc["OS_PROJECT_DOMAIN_ID"]},
		}},
	}}
	resp, err := c.raw(ctx, http.MethodPost, authURL[i:]+"/auth/tokens", body)
	if err != nil {
		return nil, fmt.Errorf("log in as %s: %w", rc["OS_USERNAME"], err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("log in as %s: %s: %s", rc["OS_USERNAME"], resp.Status, bytes.TrimSpace(b))
	}
	c.token = resp.Header.Get("X-Subject-Token")
	c.identity = authURL[i:]
	return c, nil
}

// projectID finds a project by name, else by id, in the built-in
// Keystone.
func (c *apiClient) projectID(ctx context.Context, ref string) (string, error) {
	type project struct {
		ID string `json:"id"`
	}
	var list struct {
		Projects []project `json:"projects"`
	}
	if err := c.do(ctx, http.MethodGet, c.identity+"/projects?name="+url.QueryEscape(ref), nil, &list); err != nil {
		return "", fmt.Errorf("find project %s: %w", ref, err)
	}
	if len(list.Projects) == 1 {
		return list.Projects[0].ID, nil
	}
	var one struct {
		Project project `json:"project"`
	}
	if err := c.do(ctx, http.MethodGet, c.identity+"/projects/"+url.PathEscape(ref), nil, &one); err != nil {
		if isStatus(err, http.StatusNotFound) {
			return "", fmt.Errorf("no project named %s", ref)
		}
		return "", fmt.Errorf("find project %s: %w", ref, err)
	}
	return one.Project.ID, nil
}

func (c *apiClient) raw(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	return c.hc.Do(req)
}

// httpError is a non-2xx answer.
type httpError struct {
	Status  int
	Message string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

func isStatus(err error, code int) bool {
	var he *httpError
	return errors.As(err, &he) && he.Status == code
}

// do sends a request and decodes a JSON answer into out (if non-nil).
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.raw(ctx, method, path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(b))
		var ne struct {
			NeutronError struct{ Message string } `json:"NeutronError"`
		}
		if json.Unmarshal(b, &ne) == nil && ne.NeutronError.Message != "" {
			msg = ne.NeutronError.Message
		}
		return &httpError{Status: resp.StatusCode, Message: msg}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// Client is an admin session with the sandbox's server (for tests and
// tools): requests go through the Unix socket with an admin token.
type Client struct{ c *apiClient }

// AdminClient logs in as admin (<dir>/admin-openrc).
func (s *State) AdminClient(ctx context.Context) (*Client, error) {
	c, err := s.adminClient(ctx)
	if err != nil {
		return nil, err
	}
	return &Client{c}, nil
}

// ClientAs logs in with <dir>/<who>-openrc ("admin" or "demo", the
// walkthroughs' "source the regular project credentials").
func (s *State) ClientAs(ctx context.Context, who string) (*Client, error) {
	c, err := s.login(ctx, who)
	if err != nil {
		return nil, err
	}
	return &Client{c}, nil
}

// ProjectID finds a project by name (else by id) in the built-in
// Keystone.
func (c *Client) ProjectID(ctx context.Context, ref string) (string, error) {
	return c.c.projectID(ctx, ref)
}

// Do sends a request to the Networking API (path like "/v2.0/networks")
// with body encoded as JSON, and decodes the answer into out (if not
// nil). A non-2xx answer is an error carrying the NeutronError message.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	return c.c.do(ctx, method, path, body, out)
}

// agentInfo is an entry of GET /v2.0/agents.
type agentInfo struct {
	ID        string `json:"id"`
	Host      string `json:"host"`
	AgentType string `json:"agent_type"`
	Alive     bool   `json:"alive"`
	AdminUp   bool   `json:"admin_state_up"`
}

// errNoAgentsAPI means the server has no GET /v2.0/agents.
var errNoAgentsAPI = errors.New("the server has no agents API")

func (c *apiClient) agents(ctx context.Context) ([]agentInfo, error) {
	var out struct {
		Agents []agentInfo `json:"agents"`
	}
	if err := c.do(ctx, http.MethodGet, "/v2.0/agents", nil, &out); err != nil {
		if isStatus(err, http.StatusNotFound) {
			return nil, errNoAgentsAPI
		}
		return nil, err
	}
	return out.Agents, nil
}

// OpenRC returns the exports of <dir>/<who>-openrc ("admin", "demo").
func (s *State) OpenRC(who string) (map[string]string, error) {
	return openRC(filepath.Join(s.Dir, who+"-openrc"))
}
