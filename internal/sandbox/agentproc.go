package sandbox

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/neutrino-net/neutrino/internal/freeport"
)

// AgentLog is the path of the log of host's agent. Every start of the
// agent appends to it, after a line "=== <time> start agent-<host>: ...".
func (s *State) AgentLog(host string) string {
	return filepath.Join(s.Dir, logsDir, "agent-"+host+".log")
}

// AgentProc returns the last recorded process of host's agent and
// whether it is alive.
func (s *State) AgentProc(host string) (ProcRecord, bool, error) { return s.Proc("agent-" + host) }

// Proc returns the last recorded process of that name ("server",
// "agent-<host>") and whether it is alive.
func (s *State) Proc(name string) (ProcRecord, bool, error) {
	ps, err := readProcs(s.Dir)
	if err != nil {
		return ProcRecord{}, false, err
	}
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].Name == name {
			return ps[i], ps[i].alive(), nil
		}
	}
	return ProcRecord{}, false, nil
}

// StopAgent sends sig to the agent of host (SIGTERM for a clean stop,
// SIGKILL for a crash) and waits until the process is gone. An agent
// that is not running is no error.
func (s *State) StopAgent(host string, sig syscall.Signal) error {
	if _, ok := s.Host(host); !ok {
		return fmt.Errorf("unknown host %s", host)
	}
	p, alive, err := s.AgentProc(host)
	if err != nil || !alive {
		return err
	}
	if err := syscall.Kill(p.PID, sig); err != nil {
		return fmt.Errorf("signal the agent of %s (pid %d): %w", host, p.PID, err)
	}
	if left := waitGone([]ProcRecord{p}, 10*time.Second); len(left) > 0 {
		return fmt.Errorf("the agent of %s (pid %d) still runs 10s after %v", host, p.PID, sig)
	}
	return nil
}

// StartAgent starts the agent of host the way Up does (its INI file
// rewritten, the process forked inside the host's namespace, recorded in
// the pids file) and returns its record. It refuses if the agent runs.
func (s *State) StartAgent(host string) (ProcRecord, error) {
	h, ok := s.Host(host)
	if !ok {
		return ProcRecord{}, fmt.Errorf("unknown host %s", host)
	}
	if _, alive, err := s.AgentProc(host); err != nil {
		return ProcRecord{}, err
	} else if alive {
		return ProcRecord{}, fmt.Errorf("the agent of %s is running", host)
	}
	return s.startAgent(h)
}

// RestartAgent stops the agent of host with SIGTERM and starts it again.
func (s *State) RestartAgent(host string) (ProcRecord, error) {
	if err := s.StopAgent(host, syscall.SIGTERM); err != nil {
		return ProcRecord{}, err
	}
	return s.StartAgent(host)
}

func (s *State) startAgent(h Host) (ProcRecord, error) {
	ini, err := s.writeAgentConfig(h)
	if err != nil {
		return ProcRecord{}, err
	}
	exe := s.Exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return ProcRecord{}, err
		}
	}
	p := Proc{Name: "agent-" + h.Name, NS: NodeNS(s.Prefix, h.Name), Argv: []string{exe, "sandbox", "agent", "--config", ini}, Env: s.Env}
	if addr := s.Metrics[p.Name]; addr != "" {
		// The agent lives in its host's namespace, whose loopback the
		// root namespace cannot reach: its metrics listener is opened
		// here, in the root namespace, and inherited as fd 3.
		f, err := listenFile(addr)
		if err != nil {
			return ProcRecord{}, fmt.Errorf("metrics listener of %s: %w", p.Name, err)
		}
		defer f.Close()
		p.Files = []*os.File{f}
		p.Argv = append(p.Argv, "--metrics-fd", "3")
	}
	return start(s.Dir, p)
}

// listenFile opens a TCP listener on addr and returns it as a file to
// pass to a child (the parent's copy is closed).
func listenFile(addr string) (*os.File, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	return ln.(*net.TCPListener).File()
}

// pickMetricsPorts picks free loopback ports for the metrics listeners
// of the server and of every host's agent.
func pickMetricsPorts(hosts []Host) (map[string]string, error) {
	out := map[string]string{}
	names := []string{"server"}
	for _, h := range hosts {
		names = append(names, "agent-"+h.Name)
	}
	for _, n := range names {
		for {
			port, err := freeport.Loopback()
			if err != nil {
				return nil, err
			}
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			if !slices.Contains(slices.Collect(maps.Values(out)), addr) {
				out[n] = addr
				break
			}
		}
	}
	return out, nil
}
