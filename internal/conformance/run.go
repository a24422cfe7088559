package conformance

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// sitecustomize undoes a Debian change to tempest (see the file).
//
//go:embed sitecustomize.py
var sitecustomize []byte

// Suites are the upstream API suites a full run covers.
var Suites = []string{"tempest.api.network", "neutron_tempest_plugin.api"}

// RunOptions says what tempest runs and where.
type RunOptions struct {
	Target Target
	// Regex selects tests (default: the Suites); IncludeList, if set,
	// lists test ids (regexes, one a line) instead.
	Regex       string
	IncludeList []string
	// Workspace is the tempest workspace (default: a new temporary
	// directory, removed afterwards unless Keep).
	Workspace string
	Keep      bool
	// Concurrency is tempest's worker count (default 2).
	Concurrency int
	// Output receives tempest's progress (the subunit trace), if set.
	Output io.Writer
}

// ErrNoTempest means Debian's tempest is not installed.
var ErrNoTempest = errors.New("tempest is not installed (apt-get install tempest neutron-tempest-plugin)")

// Run writes tempest.conf for o.Target into a tempest workspace, runs the
// selected tests and returns their results. A test failure is a result,
// not an error; an error means tempest could not run or said nothing.
func Run(ctx context.Context, o RunOptions) (*Result, error) {
	tempest, err := exec.LookPath("tempest")
	if err != nil {
		return nil, ErrNoTempest
	}
	ws := o.Workspace
	if ws == "" {
		if ws, err = os.MkdirTemp("", "neutrino-tempest-"); err != nil {
			return nil, err
		}
		if !o.Keep {
			defer os.RemoveAll(ws)
		}
	}
	// --workspace-path keeps ~/.tempest/workspace.yaml out of it.
	wsFile := filepath.Join(ws, "workspace.yaml")
	dir := filepath.Join(ws, "tempest")
	initCmd := exec.CommandContext(ctx, tempest, "init", "--workspace-path", wsFile, dir)
	initCmd.Dir = ws // it logs to ./tempest.log, as /etc/tempest/tempest.conf says
	if out, err := initCmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("tempest init: %v: %s", err, out)
	}
	conf := filepath.Join(dir, "etc", "tempest.conf")
	if err := os.WriteFile(conf, []byte(TempestConf(o.Target)), 0o600); err != nil {
		return nil, err
	}
	args := []string{"run", "--workspace-path", wsFile, "--config-file", conf}
	if len(o.IncludeList) > 0 {
		list := filepath.Join(ws, "include-list")
		if err := os.WriteFile(list, []byte(strings.Join(o.IncludeList, "\n")+"\n"), 0o644); err != nil {
			return nil, err
		}
		args = append(args, "--include-list", list)
	} else {
		re := o.Regex
		if re == "" {
			re = "^(" + strings.Join(Suites, "|") + ")\\."
		}
		args = append(args, "--regex", re)
	}
	n := o.Concurrency
	if n <= 0 {
		n = 2
	}
	args = append(args, "--concurrency", strconv.Itoa(n))
	py := filepath.Join(ws, "python")
	if err := os.MkdirAll(py, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(py, "sitecustomize.py"), sitecustomize, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, tempest, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OS_TEST_TIMEOUT=300", "PYTHONPATH="+py)
	// tempest starts stestr workers: on cancel, end the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	trace, err := os.Create(filepath.Join(ws, "trace.txt"))
	if err != nil {
		return nil, err
	}
	defer trace.Close()
	var out io.Writer = trace
	if o.Output != nil {
		out = io.MultiWriter(trace, o.Output)
	}
	cmd.Stdout, cmd.Stderr = out, out
	runErr := cmd.Run() // non-zero when a test fails
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if _, err := trace.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	res, err := ParseTrace(trace)
	if err != nil {
		return nil, err
	}
	res.Workspace = ws
	if res.Total() == 0 {
		return res, fmt.Errorf("tempest ran no test (%v); see %s", runErr, trace.Name())
	}
	return res, nil
}
