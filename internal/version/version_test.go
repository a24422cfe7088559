package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		name, ldflags, module string
		settings              []debug.BuildSetting
		want, wantRev         string
	}{
		{"checkout build", "", "(devel)", vcs, "devel", "0123456789ab+dirty"},
		{"go install @version", "", "v1.2.0", nil, "v1.2.0", ""},
		{"ldflags win", "1.3.0", "v1.2.0", vcs[:1], "1.3.0", "0123456789ab"},
	} {
		bi := &debug.BuildInfo{Main: debug.Module{Version: tc.module}, Settings: tc.settings}
		v, rev := fromBuildInfo(tc.ldflags, bi)
		if v != tc.want || rev != tc.wantRev {
			t.Errorf("%s: %q %q, want %q %q", tc.name, v, rev, tc.want, tc.wantRev)
		}
	}
}

func TestString(t *testing.T) {
	if s := String("neutrino-agent"); !strings.HasPrefix(s, "neutrino-agent ") || !strings.Contains(s, "go1") {
		t.Errorf("String = %q", s)
	}
}
