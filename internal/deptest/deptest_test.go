// Package deptest checks the dependency direction of the agent: the plan
// packages are pure (no kernel access), so they must never import the
// dataplane or the kernel libraries.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

var pure = []string{
	"github.com/neutrino-net/neutrino/internal/desired",
	"github.com/neutrino-net/neutrino/internal/agent/plan",
	"github.com/neutrino-net/neutrino/internal/agent/plan/l2",
	"github.com/neutrino-net/neutrino/internal/agent/plan/l3",
	"github.com/neutrino-net/neutrino/internal/agent/plan/dhcpnet",
	"github.com/neutrino-net/neutrino/internal/agent/dhcp/dhcpdata",
	"github.com/neutrino-net/neutrino/internal/agent/hostmodel",
	"github.com/neutrino-net/neutrino/internal/hostview",
	"github.com/neutrino-net/neutrino/internal/ipam",
	"github.com/neutrino-net/neutrino/internal/model",
	"github.com/neutrino-net/neutrino/internal/trace",
	"github.com/neutrino-net/neutrino/internal/traceworld",
}

var kernel = []string{
	"github.com/neutrino-net/neutrino/internal/dataplane",
	"github.com/neutrino-net/neutrino/internal/netns",
	"github.com/vishvananda/netlink",
	"github.com/vishvananda/netns",
	"github.com/google/nftables",
	"github.com/mdlayher/packet",
}

func TestPlansAreKernelFree(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	for _, pkg := range pure {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, bad := range kernel {
				if dep == bad || strings.HasPrefix(dep, bad+"/") {
					t.Errorf("%s imports %s: plan code must not touch the kernel", pkg, dep)
				}
			}
		}
	}
}

const (
	apiPkg     = "github.com/neutrino-net/neutrino/internal/api"
	controlPkg = "github.com/neutrino-net/neutrino/internal/control"
)

// deps lists the packages pkg imports, directly or not.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

// The server's control plane sits under the HTTP API: the API calls
// control's small exported surface, never its internals, and control
// never reaches back into the API.
func TestControlLayering(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	for _, dep := range deps(t, apiPkg) {
		if strings.HasPrefix(dep, controlPkg+"/") {
			t.Errorf("api imports %s: use control's exported API", dep)
		}
	}
	for _, dep := range deps(t, controlPkg) {
		if dep == apiPkg || strings.HasPrefix(dep, apiPkg+"/") {
			t.Errorf("control imports %s: control must not depend on the HTTP API", dep)
		}
	}
}

// TestDataplaneKnowsNoAgent: the data plane reconciles internal/desired
// and nothing else; it must never reach into the agent.
func TestDataplaneKnowsNoAgent(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	for _, pkg := range []string{
		"github.com/neutrino-net/neutrino/internal/dataplane",
		"github.com/neutrino-net/neutrino/internal/dataplane/nft",
		"github.com/neutrino-net/neutrino/internal/netns",
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/neutrino-net/neutrino/internal/agent") {
				t.Errorf("%s imports %s: the data plane must not know the agent", pkg, dep)
			}
		}
	}
}
