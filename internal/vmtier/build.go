package vmtier

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// InitPackage is the VM's init.
const InitPackage = "github.com/neutrino-net/neutrino/internal/vmtier/vminit"

// Suite is a package whose tests the VM runs: those that need what the
// machine's own kernel lacks (802.1Q, GRE) and skip here.
type Suite struct {
	Name    string // the package's last element: its binary and report name
	Package string
	// Run is the default -test.run pattern; Env overrides it ("-" leaves
	// the suite out: nothing of it is built).
	Run, Env string
}

// Suites are the test binaries the tier builds and runs, in order.
var Suites = []Suite{
	{Name: "e2e", Package: "github.com/neutrino-net/neutrino/internal/e2e",
		Run: "TestVLANGRE|TestDVRVLAN|TestDVRGRE|TestFullKernelSmoke", Env: "NEUTRINO_VMTIER_RUN"},
	{Name: "dataplane", Package: "github.com/neutrino-net/neutrino/internal/dataplane",
		Run: "^TestApplyVLANAndGRE$", Env: "NEUTRINO_VMTIER_DATAPLANE_RUN"},
}

// goTool is the go command: from PATH, else Go's usual install place.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// BuildStatic builds the VM's init into init and each suite's test
// binary into dir/<name>.test, all static (CGO_ENABLED=0: the initramfs
// has no libc). It returns the test binaries by suite name.
func BuildStatic(ctx context.Context, init, dir string, suites []Suite) (map[string]string, error) {
	bins := map[string]string{}
	builds := [][]string{{"build", "-o", init, InitPackage}}
	for _, s := range suites {
		bins[s.Name] = filepath.Join(dir, s.Name+".test")
		builds = append(builds, []string{"test", "-c", "-o", bins[s.Name], s.Package})
	}
	for _, args := range builds {
		cmd := exec.CommandContext(ctx, goTool(), args...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go %v: %v\n%s", args, err, out)
		}
	}
	return bins, nil
}
