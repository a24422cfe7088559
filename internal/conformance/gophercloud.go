package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// GophercloudModule is the module whose networking acceptance tests run.
const GophercloudModule = "github.com/gophercloud/gophercloud/v2"

// GophercloudVersion is the release the figures in docs/conformance.md
// were measured with.
const GophercloudVersion = "v2.16.0"

// GophercloudPackages are the networking acceptance test packages.
const GophercloudPackages = "./internal/acceptance/openstack/networking/v2/..."

// GophercloudOptions says which gophercloud runs against which server.
type GophercloudOptions struct {
	Target  Target
	Version string // default GophercloudVersion
	// CacheDir holds the module and build caches (default: the user
	// cache directory's neutrino/gophercloud), so that a second run does
	// not download again. The module comes from the Go module proxy.
	CacheDir string
	// Run and Skip are go test's -run and -skip (default: all tests).
	Run, Skip string
	// Branch is OS_BRANCH, which some tests read to skip what a release
	// does not have (default "master").
	Branch string
	// Output receives go test's JSON stream, if set.
	Output io.Writer
}

// gophercloudEnv is the OS_* environment of the acceptance tests: the
// admin's credentials (RequireAdmin wants OS_USERNAME "admin"), the
// external network for routers and floating IPs, and placeholder compute
// choices (AcceptanceTestChoicesFromEnv requires them; no networking test
// boots an instance).
func gophercloudEnv(t Target, branch string) []string {
	if branch == "" {
		branch = "master"
	}
	return []string{
		"OS_AUTH_URL=" + t.IdentityURL, "OS_REGION_NAME=" + t.Region,
		"OS_USERNAME=" + t.AdminUser, "OS_PASSWORD=" + t.AdminPassword,
		"OS_PROJECT_NAME=" + t.AdminProject, "OS_TENANT_NAME=" + t.AdminProject,
		"OS_DOMAIN_NAME=" + t.AdminDomain, "OS_USER_DOMAIN_NAME=" + t.AdminDomain,
		"OS_PROJECT_DOMAIN_NAME=" + t.AdminDomain,
		"OS_EXTGW_ID=" + t.PublicNetworkID, "OS_POOL_NAME=" + t.PublicNetworkName,
		"OS_IMAGE_ID=none", "OS_FLAVOR_ID=none-1", "OS_FLAVOR_ID_RESIZE=none-2",
		"OS_BRANCH=" + branch,
	}
}

// downloadModule fetches mod@version into the cache's module cache and
// returns its directory.
func downloadModule(ctx context.Context, goBin string, env []string, version string) (string, error) {
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", GophercloudModule+"@"+version)
	cmd.Env = env
	cmd.Dir = os.TempDir() // outside any module: no go.mod to consult
	out, err := cmd.Output()
	var m struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &m); jerr != nil || m.Dir == "" {
		if m.Error != "" {
			return "", fmt.Errorf("go mod download: %s", m.Error)
		}
		return "", fmt.Errorf("go mod download %s@%s: %v", GophercloudModule, version, err)
	}
	return m.Dir, nil
}

// RunGophercloud downloads gophercloud's module through the Go module
// proxy and runs its networking acceptance tests against o.Target.
func RunGophercloud(ctx context.Context, o GophercloudOptions) (*GoTestResult, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, errors.New("the go command is needed to run gophercloud's acceptance tests")
	}
	if o.Version == "" {
		o.Version = GophercloudVersion
	}
	if o.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, err
		}
		o.CacheDir = filepath.Join(base, "neutrino", "gophercloud")
	}
	// Its own GOPATH and module cache (writable: -modcacherw, so that the
	// directory can be removed); the project's go.mod plays no part.
	env := append(os.Environ(),
		"GOPATH="+filepath.Join(o.CacheDir, "gopath"),
		"GOMODCACHE="+filepath.Join(o.CacheDir, "mod"),
		"GOFLAGS=-modcacherw -mod=mod", "GOWORK=off", "GOTOOLCHAIN=local")
	dir, err := downloadModule(ctx, goBin, env, o.Version)
	if err != nil {
		return nil, err
	}
	args := []string{"test", "-json", "-count=1", "-tags", "acceptance", "-p", "1", "-timeout", "30m"}
	if o.Run != "" {
		args = append(args, "-run", o.Run)
	}
	if o.Skip != "" {
		args = append(args, "-skip", o.Skip)
	}
	args = append(args, GophercloudPackages)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(env, gophercloudEnv(o.Target, o.Branch)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var in io.Reader = stdout
	if o.Output != nil {
		in = io.TeeReader(stdout, o.Output)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	res, perr := ParseGoTest(in)
	runErr := cmd.Wait() // non-zero when a test fails
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if perr != nil {
		return nil, perr
	}
	if res.Total() == 0 {
		return res, fmt.Errorf("go test ran no test (%v): %s", runErr, stderr.String())
	}
	return res, nil
}
