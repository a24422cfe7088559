package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Files in the state directory.
const (
	stateFile     = "sandbox.json"
	pidsFile      = "pids"
	instancesFile = "instances.json"
	lockFile      = ".lock"
	socketFile    = "server.sock"
	serverDir     = "server"
	agentsDir     = "agents"
	logsDir       = "logs"
)

// openrcFiles are copied from the server's data directory.
var openrcFiles = []string{"admin-openrc", "demo-openrc", "agent-openrc"}

// State is what Up recorded about a sandbox (<dir>/sandbox.json).
type State struct {
	Prefix   string `json:"prefix"`
	Dir      string `json:"dir"`
	Port     int    `json:"port"`
	Computes int    `json:"computes"`
	// NetworkNodes are network1..N (0 in older states: one).
	NetworkNodes int       `json:"network_nodes,omitempty"`
	Agents       bool      `json:"agents"`
	Created      time.Time `json:"created"`
	// Exe and Env are how Up started the server and the agents, so that
	// StartAgent starts an agent again the same way.
	Exe string   `json:"exe,omitempty"`
	Env []string `json:"env,omitempty"`
	// Metrics are the loopback addresses (root namespace) of the
	// metrics listeners ([DEFAULT] metrics_bind): "server" and
	// "agent-<host>".
	Metrics map[string]string `json:"metrics,omitempty"`
	// VLANPhysnets: see Options.VLANPhysnets.
	VLANPhysnets []string `json:"vlan_physnets,omitempty"`
	// VNIRanges: see Options.VNIRanges.
	VNIRanges string `json:"vni_ranges,omitempty"`
	// NoL3Failover: see Options.NoL3Failover.
	NoL3Failover bool `json:"no_l3_failover,omitempty"`
}

// MetricsURL is the base URL of a process's metrics listener ("server"
// or "agent-<host>"); "" if it has none.
func (s *State) MetricsURL(proc string) string {
	if a := s.Metrics[proc]; a != "" {
		return "http://" + a
	}
	return ""
}

// URL is the server's endpoint in the root namespace.
func (s *State) URL() string { return "http://127.0.0.1:" + strconv.Itoa(s.Port) }

// Socket is the server's Unix socket.
func (s *State) Socket() string { return filepath.Join(s.Dir, socketFile) }

// Hosts are the sandbox's simulated hosts.
func (s *State) Hosts() []Host { return Hosts(s.NetworkNodes, s.Computes) }

// Host returns the named host.
func (s *State) Host(name string) (Host, bool) {
	for _, h := range s.Hosts() {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}

// Nodes are the short names of every node namespace.
func (s *State) Nodes() []string {
	ns := []string{NodeFabric}
	for _, h := range s.Hosts() {
		ns = append(ns, h.Name)
	}
	return append(ns, NodeUpstream, NodeInternet)
}

// LoadState reads <dir>/sandbox.json. It returns an error wrapping
// fs.ErrNotExist when there is no sandbox in dir.
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no sandbox in %s: %w", dir, err)
		}
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, stateFile), err)
	}
	s.Dir = dir
	return &s, nil
}

func (s *State) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.Dir, stateFile), append(b, '\n'))
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// lock takes an exclusive lock on the state directory for a
// read-modify-write of its files; the returned func releases it.
func lock(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// ProcRecord is a process the sandbox started.
type ProcRecord struct {
	Name  string // "server", "agent-compute1"
	PID   int
	Start uint64 // start time in clock ticks since boot (/proc/PID/stat field 22)
}

// recordProc appends a process to <dir>/pids.
func recordProc(dir string, p ProcRecord) error {
	unlock, err := lock(dir)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := os.OpenFile(filepath.Join(dir, pidsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%s %d %d\n", p.Name, p.PID, p.Start); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readProcs reads <dir>/pids; a missing file is no processes.
func readProcs(dir string) ([]ProcRecord, error) {
	f, err := os.Open(filepath.Join(dir, pidsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ps []ProcRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue // a torn line after a crash
		}
		pid, err1 := strconv.Atoi(fields[1])
		start, err2 := strconv.ParseUint(fields[2], 10, 64)
		if err1 != nil || err2 != nil || pid <= 1 {
			continue
		}
		ps = append(ps, ProcRecord{Name: fields[0], PID: pid, Start: start})
	}
	return ps, sc.Err()
}

// Instance is a fake instance booted in the sandbox.
type Instance struct {
	Name      string `json:"name"`
	Host      string `json:"host"`
	NetworkID string `json:"network_id"`
	PortID    string `json:"port_id"`
	MAC       string `json:"mac_address"`
	IP        string `json:"ip,omitempty"` // address/prefix from DHCP
	Netns     string `json:"netns"`
	Tap       string `json:"tap"`
}

func readInstances(dir string) ([]Instance, error) {
	b, err := os.ReadFile(filepath.Join(dir, instancesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var is []Instance
	if err := json.Unmarshal(b, &is); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, instancesFile), err)
	}
	return is, nil
}

// updateInstances applies fn to the instance list under the lock.
func updateInstances(dir string, fn func([]Instance) ([]Instance, error)) error {
	unlock, err := lock(dir)
	if err != nil {
		return err
	}
	defer unlock()
	is, err := readInstances(dir)
	if err != nil {
		return err
	}
	is, err = fn(is)
	if err != nil {
		return err
	}
	sort.Slice(is, func(i, j int) bool { return is[i].Name < is[j].Name })
	b, err := json.MarshalIndent(is, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, instancesFile), append(b, '\n'))
}

// Instances lists the sandbox's instances.
func (s *State) Instances() ([]Instance, error) { return readInstances(s.Dir) }
