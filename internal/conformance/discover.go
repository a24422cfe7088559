package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Admin is how the conformance run logs in as the server's admin.
type Admin struct {
	IdentityURL string // .../identity/v3
	Region      string
	User        string
	Password    string
	Project     string
	Domain      string // name, default "Default"
}

// client is a tiny admin client of the server under test.
type client struct {
	http    *http.Client
	token   string
	network string // network endpoint from the catalog, no trailing slash
}

func login(ctx context.Context, a Admin) (*client, error) {
	if a.Domain == "" {
		a.Domain = "Default"
	}
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": a.User, "password": a.Password, "domain": map[string]any{"name": a.Domain}}}},
		"scope": map[string]any{"project": map[string]any{"name": a.Project, "domain": map[string]any{"name": a.Domain}}},
	}}
	c := &client{http: &http.Client{Timeout: 30 * time.Second}}
	var tok struct {
		Token struct {
			Catalog []struct {
				Type      string `json:"type"`
				Endpoints []struct {
					Interface string `json:"interface"`
					URL       string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	h, err := c.do(ctx, "POST", strings.TrimRight(a.IdentityURL, "/")+"/auth/tokens", body, &tok)
	if err != nil {
		return nil, fmt.Errorf("admin login: %w", err)
	}
	c.token = h.Get("X-Subject-Token")
	for _, s := range tok.Token.Catalog {
		for _, e := range s.Endpoints {
			if s.Type == "network" && e.Interface == "public" {
				c.network = strings.TrimRight(e.URL, "/")
			}
		}
	}
	if c.network == "" {
		return nil, fmt.Errorf("admin login: no public network endpoint in the catalog")
	}
	return c, nil
}

func (c *client) do(ctx context.Context, method, url string, in, out any) (http.Header, error) {
	var rd io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, url, err)
		}
	}
	return resp.Header, nil
}

// Discover builds the Target for the server a logs in to: its extensions
// and its external network. With publicPhysnet, a flat external network
// "public" on that physical network (203.0.113.0/24) is made when there
// is none; "" makes none.
func Discover(ctx context.Context, a Admin, publicPhysnet string) (Target, error) {
	c, err := login(ctx, a)
	if err != nil {
		return Target{}, err
	}
	t := Target{
		IdentityURL: a.IdentityURL, Region: a.Region,
		AdminUser: a.User, AdminPassword: a.Password, AdminProject: a.Project, AdminDomain: a.Domain,
		TypeDrivers: []string{"flat", "vlan", "vxlan", "geneve"},
	}
	if t.AdminDomain == "" {
		t.AdminDomain = "Default"
	}
	var exts struct {
		Extensions []struct {
			Alias string `json:"alias"`
		} `json:"extensions"`
	}
	if _, err := c.do(ctx, "GET", c.network+"/v2.0/extensions", nil, &exts); err != nil {
		return Target{}, err
	}
	for _, e := range exts.Extensions {
		t.Extensions = append(t.Extensions, e.Alias)
	}
	var nets struct {
		Networks []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"networks"`
	}
	if _, err := c.do(ctx, "GET", c.network+"/v2.0/networks?router:external=true", nil, &nets); err != nil {
		return Target{}, err
	}
	if len(nets.Networks) > 0 {
		t.PublicNetworkID, t.PublicNetworkName = nets.Networks[0].ID, nets.Networks[0].Name
	} else if publicPhysnet != "" {
		if t.PublicNetworkID, err = c.createPublic(ctx, publicPhysnet); err != nil {
			return Target{}, err
		}
		t.PublicNetworkName = "public"
	}
	return t, nil
}

func (c *client) createPublic(ctx context.Context, physnet string) (string, error) {
	var net struct {
		Network struct {
			ID string `json:"id"`
		} `json:"network"`
	}
	if _, err := c.do(ctx, "POST", c.network+"/v2.0/networks", map[string]any{"network": map[string]any{
		"name": "public", "router:external": true,
		"provider:network_type": "flat", "provider:physical_network": physnet,
	}}, &net); err != nil {
		return "", err
	}
	_, err := c.do(ctx, "POST", c.network+"/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"name": "public-subnet", "network_id": net.Network.ID, "ip_version": 4,
		"cidr": "203.0.113.0/24", "gateway_ip": "203.0.113.1", "enable_dhcp": false,
	}}, nil)
	return net.Network.ID, err
}
