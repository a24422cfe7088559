package testbed

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
)

// StopAgent stops host's agent with sig (SIGTERM, or SIGKILL for a
// crash) and waits until it is gone.
func (b *Bed) StopAgent(host string, sig syscall.Signal) {
	b.T.Helper()
	if err := b.State.StopAgent(host, sig); err != nil {
		b.T.Fatal(err)
	}
}

// StartAgent starts host's agent the way sandbox.Up does.
func (b *Bed) StartAgent(host string) sandbox.ProcRecord {
	b.T.Helper()
	p, err := b.State.StartAgent(host)
	if err != nil {
		b.T.Fatal(err)
	}
	return p
}

// RestartAgent stops host's agent with SIGTERM and starts it again.
func (b *Bed) RestartAgent(host string) sandbox.ProcRecord {
	b.T.Helper()
	b.StopAgent(host, syscall.SIGTERM)
	return b.StartAgent(host)
}

// AgentLog returns host's agent log since its last start.
func (b *Bed) AgentLog(host string) string {
	b.T.Helper()
	s, err := AgentLogSinceStart(b.State.AgentLog(host), host)
	if err != nil {
		b.T.Fatal(err)
	}
	return s
}

// WaitInitialApply waits until host's agent, since its last start, has
// logged its "initial apply" line, and returns that line's fields.
func (b *Bed) WaitInitialApply(host string, timeout time.Duration) LogLine {
	b.T.Helper()
	var line LogLine
	Eventually(b.T, timeout, 20*time.Millisecond, "initial apply of the agent of "+host, func() error {
		var err error
		line, err = InitialApply(b.State.AgentLog(host), host)
		return err
	})
	return line
}

// AgentID returns the id of host's agent of a type ("DHCP agent",
// "L3 agent", ...).
func (b *Bed) AgentID(host, agentType string) string {
	b.T.Helper()
	var out struct {
		Agents []struct {
			ID        string `json:"id"`
			Host      string `json:"host"`
			AgentType string `json:"agent_type"`
		} `json:"agents"`
	}
	b.Do(http.MethodGet, "/v2.0/agents?host="+url.QueryEscape(host), nil, &out)
	for _, a := range out.Agents {
		if a.Host == host && a.AgentType == agentType {
			return a.ID
		}
	}
	b.T.Fatalf("host %s has no %s", host, agentType)
	return ""
}

// ScheduleDHCP makes host the only DHCP server of the network (manual
// scheduling through the API) and waits until the network's DHCP port
// is bound to host, and is the only one.
func (b *Bed) ScheduleDHCP(networkID, host string) Port {
	b.T.Helper()
	want := b.AgentID(host, "DHCP agent")
	var cur struct {
		Agents []struct {
			ID string `json:"id"`
		} `json:"agents"`
	}
	b.Do(http.MethodGet, "/v2.0/networks/"+networkID+"/dhcp-agents", nil, &cur)
	hosted := false
	for _, a := range cur.Agents {
		hosted = hosted || a.ID == want
	}
	if !hosted {
		// The server's own scheduler may host the network on this agent
		// between the read above and this request: 409 "already hosted
		// by" this agent is then the outcome we want.
		err := b.Try(http.MethodPost, "/v2.0/agents/"+want+"/dhcp-networks", map[string]any{"network_id": networkID}, nil)
		if err != nil && !strings.Contains(err.Error(), "already hosted by the DHCP Agent "+want) {
			b.T.Fatalf("schedule %s on the DHCP agent of %s: %v", networkID, host, err)
		}
	}
	for _, a := range cur.Agents {
		if a.ID != want {
			b.Do(http.MethodDelete, "/v2.0/agents/"+a.ID+"/dhcp-networks/"+networkID, nil, nil)
		}
	}
	var port Port
	Eventually(b.T, 20*time.Second, 100*time.Millisecond, "DHCP port of "+networkID+" on "+host, func() error {
		var out struct {
			Ports []Port `json:"ports"`
		}
		if err := b.Try(http.MethodGet, "/v2.0/ports?device_owner=network:dhcp&network_id="+networkID, nil, &out); err != nil {
			return err
		}
		if len(out.Ports) != 1 || out.Ports[0].HostID != host {
			return fmt.Errorf("DHCP ports %+v", out.Ports)
		}
		port = out.Ports[0]
		return nil
	})
	return port
}
