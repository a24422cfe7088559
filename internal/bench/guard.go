package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/neutrino-net/neutrino/internal/sandbox"
)

// A benchmark's sandbox outlives the benchmark if nobody removes it: the
// server and agents run in their own sessions (so that a Ctrl-C meant
// for the benchmark does not kill them halfway through a measurement),
// and the namespaces are files in /run/netns. A cancelled context
// (SIGINT, SIGTERM) unwinds through upSandbox's cleanup; a benchmark that
// is killed outright (SIGKILL, OOM) runs no code at all. The guard
// covers that case: a child process in its own session whose standard
// input is a pipe only the benchmark holds. When the benchmark ends in
// any way the pipe closes; unless the benchmark wrote "done" first (it
// removed the sandbox itself, or was asked to keep it), the guard removes
// the sandbox.

// guardDone is what the benchmark writes when the guard has nothing to do.
const guardDone = "done"

// guard is a running guard process.
type guard struct {
	w   *os.File
	cmd *exec.Cmd
}

// startGuard starts `<exe> bench guard --dir dir --prefix prefix`
// (with --remove-dir when dir is the benchmark's temporary directory).
func startGuard(exe string, env []string, dir, prefix string, removeDir bool) (*guard, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	args := []string{"bench", "guard", "--dir", dir, "--prefix", prefix}
	if removeDir {
		args = append(args, "--remove-dir")
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = r
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start the sandbox guard: %w", err)
	}
	return &guard{w: w, cmd: cmd}, nil
}

// release tells the guard that the sandbox needs nothing more from it
// and waits until it has exited.
func (g *guard) release() {
	io.WriteString(g.w, guardDone)
	g.w.Close()
	g.cmd.Wait()
}

// GuardOptions are the arguments of `neutrino bench guard`.
type GuardOptions struct {
	Dir, Prefix string
	RemoveDir   bool
	Out         io.Writer
}

// RunGuard is the guard process (see the comment at the top of this
// file): it waits until in ends and, unless it read "done", removes the
// sandbox of prefix in dir.
func RunGuard(in io.Reader, o GuardOptions) error {
	// Our session has no terminal, but a signal sent to the benchmark's
	// process group by hand should not leave the sandbox orphaned either.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	if err := sandbox.ValidatePrefix(o.Prefix); err != nil {
		return err
	}
	if o.Dir == "" {
		return errors.New("no --dir")
	}
	b, _ := io.ReadAll(in)
	if strings.TrimSpace(string(b)) == guardDone {
		return nil
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	fmt.Fprintf(o.Out, "the benchmark ended without removing its sandbox (prefix %s): removing it\n", o.Prefix)
	err := sandbox.Down(sandbox.DownOptions{Dir: o.Dir, Prefix: o.Prefix, Purge: true, Out: o.Out})
	if o.RemoveDir {
		err = errors.Join(err, os.RemoveAll(o.Dir))
	}
	return err
}
