package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Failure injection for HA (docs/ha.md): `fail` is a power loss (the
// host's fabric links go down, its agent dies), `heal` the reboot (the
// agent starts and applies before the links come back, as a node that
// boots learns its role from the server before it carries traffic),
// `partition` cuts only the agent's connection to the server.
//
// Agents reach the server through a per-host socket (<dir>/hosts/
// <host>.sock) that the sandbox's server process relays to its own; a
// partitioned host's relay drops its connections and refuses new ones.

// The sandbox runs with the default timings (docs/ha.md): its network
// nodes (dvr_snat) report every 0.5 s and are dead after 1.5 s, its
// computes (dvr) every 4 s; HA claims are fenced for 2 s.
// NetworkNodeDownTime is how long a network node's agents stay alive
// after their last heartbeat.
const NetworkNodeDownTime = 3 * 500 * time.Millisecond

const (
	hostsDir        = "hosts"
	partitionedFile = "partitioned"
)

// HostSocket is the socket the agent of host reaches the server by.
func (s *State) HostSocket(host string) string { return filepath.Join(s.Dir, hostsDir, host+".sock") }

// Partitioned lists the hosts whose agents are cut from the server.
func (s *State) Partitioned() []string { return readPartitioned(s.Dir) }

func readPartitioned(dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, partitionedFile))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

func (s *State) setPartitioned(host string, on bool) error {
	unlock, err := lock(s.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	cur := readPartitioned(s.Dir)
	cur = slices.DeleteFunc(cur, func(h string) bool { return h == host })
	if on {
		cur = append(cur, host)
	}
	return writeAtomic(filepath.Join(s.Dir, partitionedFile), []byte(strings.Join(cur, "\n")+"\n"))
}

// Partition cuts the agent of host from the server; its data plane
// and everything else of the host keep working.
func (s *State) Partition(host string) error {
	if _, ok := s.Host(host); !ok {
		return fmt.Errorf("unknown host %s", host)
	}
	return s.setPartitioned(host, true)
}

// Fail simulates a power loss of host: its links to the fabric go down
// and its agent is killed.
func (s *State) Fail(host string) error {
	if _, ok := s.Host(host); !ok {
		return fmt.Errorf("unknown host %s", host)
	}
	if err := s.setLinks(host, false); err != nil {
		return err
	}
	return s.StopAgent(host, syscall.SIGKILL)
}

// Heal undoes Fail and Partition. A failed host boots like a real
// one: its agent starts while its links are still down and applies
// what the server says (an HA router it held is standby now, so its
// addresses go), and only then do the links come back: a returning
// node never takes a router back.
func (s *State) Heal(ctx context.Context, host string) error {
	if _, ok := s.Host(host); !ok {
		return fmt.Errorf("unknown host %s", host)
	}
	if err := s.setPartitioned(host, false); err != nil {
		return err
	}
	if _, alive, err := s.AgentProc(host); err != nil {
		return err
	} else if !alive && s.Agents {
		if _, err := s.StartAgent(host); err != nil {
			return err
		}
		if err := s.waitInitialApply(ctx, host, 60*time.Second); err != nil {
			return err
		}
	}
	return s.setLinks(host, true)
}

// waitInitialApply waits until the agent of host logged its first
// apply since its last start.
func (s *State) waitInitialApply(ctx context.Context, host string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(s.AgentLog(host))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		log := string(b)
		if i := strings.LastIndex(log, " start agent-"+host+":"); i >= 0 && strings.Contains(log[i:], `msg="initial apply"`) {
			return nil
		}
		if !s.procAlive("agent-" + host) {
			return fmt.Errorf("the agent of %s exited; see %s", host, s.AgentLog(host))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the agent of %s did not apply within %s; see %s", host, timeout, s.AgentLog(host))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// setLinks sets host's ports on the fabric's switches up or down (the
// host's own ends lose their carrier with them).
func (s *State) setLinks(host string, up bool) error {
	fab := NodeNS(s.Prefix, NodeFabric)
	h, err := handle(fab)
	if err != nil {
		return err
	}
	defer h.Close()
	for _, br := range []string{BridgeTunnel, BridgeExternal} {
		name := fabricPort(br, host)
		l, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("find %s in %s: %w", name, fab, err)
		}
		set := h.LinkSetDown
		if up {
			set = h.LinkSetUp
		}
		if err := set(l); err != nil {
			return fmt.Errorf("set %s in %s up=%v: %w", name, fab, up, err)
		}
	}
	return nil
}

// LinksUp reports whether host's fabric ports are up.
func (s *State) LinksUp(host string) (bool, error) {
	h, err := handle(NodeNS(s.Prefix, NodeFabric))
	if err != nil {
		return false, err
	}
	defer h.Close()
	l, err := h.LinkByName(fabricPort(BridgeTunnel, host))
	if err != nil {
		return false, err
	}
	return l.Attrs().Flags&net.FlagUp != 0, nil
}
