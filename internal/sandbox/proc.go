package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStat returns the state letter and start time of a process.
func procStat(pid int) (state byte, start uint64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after its closing parenthesis are plain.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, false
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], start, true
}

// alive reports whether the recorded process still runs (the same
// process: a PID reused by another process has another start time).
func (p ProcRecord) alive() bool {
	st, start, ok := procStat(p.PID)
	return ok && start == p.Start && st != 'Z' && st != 'X'
}

// Proc is a process to start in the sandbox.
type Proc struct {
	Name string   // recorded name, also the log file name (logs/<name>.log)
	NS   string   // network namespace; empty = root
	Argv []string // program and arguments
	Env  []string // added to the environment
	// Files are passed to the process as fds 3, 4, ... (a listener
	// opened in the root namespace for a process in a host's).
	Files []*os.File
}

// start starts p detached (own session, stdin /dev/null, output appended
// to its log) and records it in <dir>/pids.
func start(dir string, p Proc) (ProcRecord, error) {
	logPath := filepath.Join(dir, logsDir, p.Name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return ProcRecord{}, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s start %s: %s\n", time.Now().Format(time.RFC3339), p.Name, strings.Join(p.Argv, " "))
	cmd := exec.Command(p.Argv[0], p.Argv[1:]...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	cmd.ExtraFiles = p.Files
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	closeInheritedOnExec()
	if err := startIn(p.NS, cmd); err != nil {
		return ProcRecord{}, fmt.Errorf("start %s: %w", p.Name, err)
	}
	// Reap it if it exits while we run (tests; a failing up), so that a
	// dead child does not linger as a zombie.
	go cmd.Wait()
	rec := ProcRecord{Name: p.Name, PID: cmd.Process.Pid}
	for range 100 {
		if _, s, ok := procStat(rec.PID); ok {
			rec.Start = s
			break
		}
		time.Sleep(time.Millisecond)
	}
	if rec.Start == 0 {
		return rec, fmt.Errorf("start %s: process %d vanished at once (see %s)", p.Name, rec.PID, logPath)
	}
	if err := recordProc(dir, rec); err != nil {
		syscall.Kill(rec.PID, syscall.SIGKILL)
		return rec, err
	}
	return rec, nil
}

// findStray finds processes that belong to the sandbox but may be
// missing from the pids file: every process inside one of the given
// namespaces (by inode), and our own server and agent commands naming
// dir. The calling process is never returned.
func findStray(dir string, nsInodes map[uint64]string) []ProcRecord {
	es, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []ProcRecord
	for _, e := range es {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid <= 1 {
			continue
		}
		st, start, ok := procStat(pid)
		if !ok || st == 'Z' {
			continue
		}
		name := ""
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil {
			var ino uint64
			if _, err := fmt.Sscanf(l, "net:[%d]", &ino); err == nil {
				if ns, ok := nsInodes[ino]; ok {
					name = "in-" + ns
				}
			}
		}
		if name == "" {
			if cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil {
				name = ourCommand(dir, strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00"))
			}
		}
		if name != "" {
			out = append(out, ProcRecord{Name: name, PID: pid, Start: start})
		}
	}
	return out
}

// ourCommand names a command line if it is a sandbox server or agent of
// dir: "... sandbox serve --dir DIR ..." or "... --config DIR/agents/...".
func ourCommand(dir string, args []string) string {
	for i := 0; i+1 < len(args); i++ {
		switch {
		case args[i] == "--dir" && args[i+1] == dir && hasSeq(args, "sandbox", "serve"):
			return "server"
		case args[i] == "--config" && strings.HasPrefix(args[i+1], filepath.Join(dir, agentsDir)+"/"):
			return "agent"
		}
	}
	return ""
}

// serverDirs returns the --dir of every running sandbox server.
func serverDirs() []string {
	es, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var dirs []string
	for _, e := range es {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
		if !hasSeq(args, "sandbox", "serve") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "--dir" {
				dirs = append(dirs, args[i+1])
			}
		}
	}
	return dirs
}

func hasSeq(args []string, a, b string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == a && args[i+1] == b {
			return true
		}
	}
	return false
}

// stop ends the processes: SIGTERM, then SIGKILL to those still alive
// after grace. It returns once all are gone (or after a last wait).
func stop(ps []ProcRecord, grace time.Duration) []ProcRecord {
	var live []ProcRecord
	for _, p := range ps {
		if p.alive() {
			syscall.Kill(p.PID, syscall.SIGTERM)
			live = append(live, p)
		}
	}
	live = waitGone(live, grace)
	for _, p := range live {
		syscall.Kill(p.PID, syscall.SIGKILL)
	}
	return waitGone(live, 5*time.Second)
}

func waitGone(ps []ProcRecord, d time.Duration) []ProcRecord {
	deadline := time.Now().Add(d)
	for {
		var live []ProcRecord
		for _, p := range ps {
			if p.alive() {
				live = append(live, p)
			}
		}
		if len(live) == 0 || time.Now().After(deadline) {
			return live
		}
		ps = live
		time.Sleep(50 * time.Millisecond)
	}
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// closeInheritedOnExec marks every descriptor above stderr close-on-exec,
// so that the daemons we start do not inherit what this process itself
// inherited: `flock LOCK neutrino sandbox up` hands its lock to the
// command as fd 3 without close-on-exec, and a server or agent holding
// it would keep the lock for the sandbox's whole life, blocking every
// later `flock LOCK ...`. Go opens its own descriptors close-on-exec and
// passes a child's stdio by dup2, so nothing we mean to pass is lost.
func closeInheritedOnExec() {
	es, _ := os.ReadDir("/proc/self/fd")
	for _, e := range es {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}
