package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"runtime/debug"
	rpprof "runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/freeport"
	"github.com/neutrino-net/neutrino/internal/server"
)

// The fan-out benchmark runs the server in a process of its own (the
// hidden `neutrino bench fanout-server`), so that the server's memory
// can be read from /proc apart from the thousands of simulated agents
// in the benchmark's process. The child prints one JSON line (its URL
// and the address of its pprof listener) when it serves, and ends when
// its standard input closes: the benchmark holds the only writer, so
// the server cannot outlive it, however it ends.

// FanoutServerOptions are the arguments of `neutrino bench fanout-server`.
type FanoutServerOptions struct {
	Dir  string // embedded etcd's data (removed when the server ends)
	Port int
}

type fanoutReady struct {
	URL   string `json:"url"`
	PProf string `json:"pprof"`
}

// ServeFanout is the server process of the fan-out benchmark: a
// neutrino-server (noauth, embedded etcd in o.Dir, agents down after
// 75 s as upstream's agent_down_time) and a pprof listener on loopback,
// until in ends.
func ServeFanout(ctx context.Context, in io.Reader, out io.Writer, o FanoutServerOptions) error {
	if o.Dir == "" || o.Port <= 0 {
		return errors.New("fanout-server needs --dir and --port")
	}
	defer os.RemoveAll(o.Dir)
	raiseFDLimit(60000)
	cfg := config.Defaults()
	cfg.AuthStrategy = "noauth"
	cfg.BindHost, cfg.BindPort = "127.0.0.1", o.Port
	cfg.AgentDownTime = 75 * time.Second
	srv, err := server.Start(ctx, server.Options{Config: cfg, DataDir: o.Dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	// Returning freed memory to the kernel makes VmRSS what the server
	// holds rather than what its collector has yet to give back; the
	// second collection drops what sync.Pools kept through the first.
	mux.HandleFunc("/debug/free", func(w http.ResponseWriter, _ *http.Request) { debug.FreeOSMemory(); debug.FreeOSMemory() })
	// A CPU profile of a phase the benchmark chooses (the operations),
	// written to a file the benchmark names.
	var cpu *os.File
	mux.HandleFunc("/debug/cpu/start", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Create(r.URL.Query().Get("file"))
		if err == nil {
			if err = rpprof.StartCPUProfile(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		cpu = f
	})
	mux.HandleFunc("/debug/cpu/stop", func(w http.ResponseWriter, _ *http.Request) {
		if cpu != nil {
			rpprof.StopCPUProfile()
			cpu.Close()
			cpu = nil
		}
	})
	go http.Serve(ln, mux)
	if err := json.NewEncoder(out).Encode(fanoutReady{URL: srv.URL, PProf: ln.Addr().String()}); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, in); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// serverProc is the running server process, seen from the benchmark.
type serverProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	URL   string
	pprof string
	dir   string
}

// startServerProc runs `<exe> bench fanout-server` (exe "" = this
// program) and waits until it serves.
func startServerProc(ctx context.Context, exe string, env []string) (*serverProc, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "neutrino-fanout-")
	if err != nil {
		return nil, err
	}
	port, err := freeport.Loopback()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(exe, "bench", "fanout-server", "--dir", dir, "--port", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start the server process: %w", err)
	}
	p := &serverProc{cmd: cmd, stdin: stdin, dir: dir}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadBytes('\n')
		var r fanoutReady
		if err == nil {
			err = json.Unmarshal(line, &r)
		}
		p.URL, p.pprof = r.URL, r.PProf
		ready <- err
		io.Copy(io.Discard, stdout)
	}()
	select {
	case err = <-ready:
	case <-time.After(2 * time.Minute):
		err = errors.New("timed out")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("the server process did not come up: %w", err)
	}
	return p, nil
}

// Close ends the server process (closing its standard input) and waits
// for it.
func (p *serverProc) Close() {
	p.stdin.Close()
	t := time.AfterFunc(30*time.Second, func() { p.cmd.Process.Kill() })
	p.cmd.Wait()
	t.Stop()
	os.RemoveAll(p.dir)
}

// procMemory is a process's resident memory now and at its peak (MiB).
type procMemory struct{ RSS, HWM float64 }

// memoryOf reads VmRSS and VmHWM of pid from /proc.
func memoryOf(pid int) (procMemory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMemory{}, err
	}
	var m procMemory
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 64)
		if err != nil {
			return procMemory{}, fmt.Errorf("/proc/%d/status: %s: %w", pid, line, err)
		}
		if name == "VmRSS" {
			m.RSS = kb / 1024
		} else {
			m.HWM = kb / 1024
		}
	}
	return m, nil
}

// memory reads the server's memory after it collected garbage and gave
// the freed memory back, so that the figure is what the server holds;
// a heap profile goes to heap when it is not nil.
func (p *serverProc) memory(ctx context.Context, heap io.Writer) (procMemory, error) {
	if err := p.get(ctx, "/debug/free", io.Discard); err != nil {
		return procMemory{}, err
	}
	if heap != nil {
		if err := p.get(ctx, "/debug/pprof/heap", heap); err != nil {
			return procMemory{}, err
		}
	}
	return memoryOf(p.cmd.Process.Pid)
}

func (p *serverProc) get(ctx context.Context, path string, to io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+p.pprof+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("server process %s: %s", path, resp.Status)
	}
	_, err = io.Copy(to, resp.Body)
	return err
}
