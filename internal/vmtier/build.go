package vmtier

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// Packages built for the VM.
const (
	E2EPackage  = "github.com/neutrino-net/neutrino/internal/e2e"
	InitPackage = "github.com/neutrino-net/neutrino/internal/vmtier/vminit"
)

// goTool is the go command: from PATH, else Go's usual install place.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// BuildStatic builds the VM's init and the e2e test binary, both static
// (CGO_ENABLED=0: the initramfs has no libc), into init and test.
func BuildStatic(ctx context.Context, init, test string) error {
	for _, args := range [][]string{
		{"build", "-o", init, InitPackage},
		{"test", "-c", "-o", test, E2EPackage},
	} {
		cmd := exec.CommandContext(ctx, goTool(), args...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %v: %v\n%s", args, err, out)
		}
	}
	return nil
}
