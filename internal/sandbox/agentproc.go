package sandbox

import (
	"errors"
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
	name := "agent-" + h.Name
	var metrics *os.File
	if addr := s.Metrics[name]; addr != "" {
		// The agent lives in its host's namespace, whose loopback the
		// root namespace cannot reach: its metrics listener is opened
		// here, in the root namespace, and inherited as fd 3. It is
		// opened before the agent's INI file is written, which names it.
		f, err := listenFile(addr)
		if errors.Is(err, syscall.EADDRINUSE) {
			// Another process took the port while the agent was down:
			// the agent gets a new one (sandbox status shows it).
			f, err = s.moveMetrics(name)
		}
		if err != nil {
			return ProcRecord{}, fmt.Errorf("metrics listener of %s: %w", name, err)
		}
		defer f.Close()
		metrics = f
	}
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
	p := Proc{Name: name, NS: NodeNS(s.Prefix, h.Name), Argv: []string{exe, "sandbox", "agent", "--config", ini}, Env: s.Env}
	if metrics != nil {
		p.Files = []*os.File{metrics}
		p.Argv = append(p.Argv, "--metrics-fd", "3")
	}
	return start(s.Dir, p)
}

// moveMetrics gives a process's metrics listener a new free port,
// records it, and returns the listener as a file.
func (s *State) moveMetrics(name string) (*os.File, error) {
	port, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	f, err := listenFile(addr)
	if err != nil {
		return nil, err
	}
	s.Metrics[name] = addr
	if err := s.save(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// listenFile opens a TCP listener on addr and returns it as a file to
// pass to a child (the parent's copy is closed). An agent restarted
// right after a kill may find its address still held while the old
// process exits: the bind is retried for a few seconds.
func listenFile(addr string) (*os.File, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			defer ln.Close()
			return ln.(*net.TCPListener).File()
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
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
