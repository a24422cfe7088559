// Package version says which build of Neutrino is running, for the
// binaries' --version.
//
// A release build sets the version with the linker:
//
//	go build -ldflags "-X github.com/neutrino-net/neutrino/internal/version.Version=1.2.0" ./cmd/...
//
// Without it the version comes from the build information Go embeds: the
// module version when installed with `go install ...@v1.2.0`, and the VCS
// revision (with "+dirty" for uncommitted changes) of a checkout build.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set by -ldflags "-X ...version.Version=..."; empty = from
// the build information.
var Version string

// Get returns the version and the VCS revision ("" if unknown).
func Get() (version, revision string) {
	version = Version
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return or(version, "unknown"), ""
	}
	return fromBuildInfo(version, bi)
}

func fromBuildInfo(version string, bi *debug.BuildInfo) (string, string) {
	if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	revision, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if revision != "" && dirty {
		revision += "+dirty"
	}
	return or(version, "devel"), revision
}

// String is the --version line of a program: "neutrino-server 1.2.0
// (commit 0123456789ab, go1.26.8)".
func String(program string) string {
	v, rev := Get()
	if rev != "" {
		return fmt.Sprintf("%s %s (commit %s, %s)", program, v, rev, runtime.Version())
	}
	return fmt.Sprintf("%s %s (%s)", program, v, runtime.Version())
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
