package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Credentials are Keystone v3 password credentials, as an openrc file
// sets them (OS_AUTH_URL, OS_USERNAME, ...): with them the API benchmark
// runs unchanged against any Networking API endpoint, upstream Neutron
// included.
type Credentials struct {
	AuthURL       string
	Username      string
	Password      string
	ProjectName   string
	UserDomain    string
	ProjectDomain string
	Region        string // catalog region; empty = any
	Interface     string // catalog interface (default public)
}

// CredentialsFromEnv reads the OS_* variables of a sourced openrc.
func CredentialsFromEnv() Credentials {
	c := Credentials{
		AuthURL: os.Getenv("OS_AUTH_URL"), Username: os.Getenv("OS_USERNAME"), Password: os.Getenv("OS_PASSWORD"),
		ProjectName: os.Getenv("OS_PROJECT_NAME"), UserDomain: os.Getenv("OS_USER_DOMAIN_NAME"),
		ProjectDomain: os.Getenv("OS_PROJECT_DOMAIN_NAME"), Region: os.Getenv("OS_REGION_NAME"),
		Interface: os.Getenv("OS_INTERFACE"),
	}
	if c.ProjectName == "" {
		c.ProjectName = os.Getenv("OS_TENANT_NAME")
	}
	return c
}

// login issues a project-scoped token and finds the network endpoint in
// the token's catalog.
func (c Credentials) login(ctx context.Context, hc *http.Client) (token, endpoint string, err error) {
	dom := func(s string) string {
		if s == "" {
			return "Default"
		}
		return s
	}
	var req struct {
		Auth any `json:"auth"`
	}
	req.Auth = map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": c.Username, "password": c.Password, "domain": map[string]string{"name": dom(c.UserDomain)},
		}}},
		"scope": map[string]any{"project": map[string]any{"name": c.ProjectName, "domain": map[string]string{"name": dom(c.ProjectDomain)}}},
	}
	body, _ := json.Marshal(req)
	base := strings.TrimSuffix(c.AuthURL, "/")
	if !strings.HasSuffix(base, "/v3") {
		base += "/v3"
	}
	r, err := http.NewRequestWithContext(ctx, "POST", base+"/auth/tokens", bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	r.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(r)
	if err != nil {
		return "", "", fmt.Errorf("keystone: %w", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token = resp.Header.Get("X-Subject-Token")
	if resp.StatusCode != http.StatusCreated || token == "" {
		return "", "", fmt.Errorf("keystone %s: status %d: %s", base, resp.StatusCode, truncate(raw))
	}
	var tok struct {
		Token struct {
			Catalog []struct {
				Type      string `json:"type"`
				Endpoints []struct {
					Interface string `json:"interface"`
					Region    string `json:"region"`
					URL       string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	_ = json.Unmarshal(raw, &tok)
	iface := c.Interface
	if iface == "" {
		iface = "public"
	}
	iface = strings.TrimSuffix(iface, "URL") // openrc's "publicURL"
	for _, s := range tok.Token.Catalog {
		if s.Type != "network" {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Interface == iface && (c.Region == "" || ep.Region == c.Region) {
				return token, strings.TrimSuffix(ep.URL, "/"), nil
			}
		}
	}
	return token, "", nil
}

// authenticate fills o.Token (and o.URL from the catalog) from the
// credentials, if any were given.
func authenticate(ctx context.Context, o *Options, hc *http.Client) error {
	if o.Creds.AuthURL == "" || o.Token != "" {
		return nil
	}
	tok, ep, err := o.Creds.login(ctx, hc)
	if err != nil {
		return err
	}
	o.Token = tok
	if o.URL == "" {
		if ep == "" {
			return fmt.Errorf("no network endpoint in the catalog of %s: give --url", o.Creds.AuthURL)
		}
		o.URL = ep
	}
	return nil
}

// ReadOpenRC sets the credentials an openrc file exports (lines
// "export OS_NAME=value", quotes optional), except those whose flag was
// given (changed reports whether the named flag was set).
func ReadOpenRC(path string, c *Credentials, changed func(flag string) bool) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	set := map[string]*string{
		"OS_AUTH_URL": &c.AuthURL, "OS_USERNAME": &c.Username, "OS_PASSWORD": &c.Password,
		"OS_PROJECT_NAME": &c.ProjectName, "OS_TENANT_NAME": &c.ProjectName,
		"OS_USER_DOMAIN_NAME": &c.UserDomain, "OS_PROJECT_DOMAIN_NAME": &c.ProjectDomain,
		"OS_REGION_NAME": &c.Region, "OS_INTERFACE": &c.Interface,
	}
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "export "))
		name, val, ok := strings.Cut(line, "=")
		dst := set[name]
		if !ok || dst == nil {
			continue
		}
		flag := "os-" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "OS_")), "_", "-")
		if changed(flag) {
			continue
		}
		*dst = strings.Trim(val, `"'`)
	}
	return nil
}
