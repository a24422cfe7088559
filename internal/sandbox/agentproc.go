package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// AgentLog is the path of the log of host's agent. Every start of the
// agent appends to it, after a line "=== <time> start agent-<host>: ...".
func (s *State) AgentLog(host string) string {
	return filepath.Join(s.Dir, logsDir, "agent-"+host+".log")
}

// AgentProc returns the last recorded process of host's agent and
// whether it is alive.
func (s *State) AgentProc(host string) (ProcRecord, bool, error) {
	ps, err := readProcs(s.Dir)
	if err != nil {
		return ProcRecord{}, false, err
	}
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].Name == "agent-"+host {
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
	return start(s.Dir, Proc{Name: "agent-" + h.Name, NS: NodeNS(s.Prefix, h.Name), Argv: []string{exe, "sandbox", "agent", "--config", ini}, Env: s.Env})
}
