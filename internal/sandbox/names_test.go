package sandbox

import (
	"strings"
	"testing"
)

// TestInstanceNames: names are what users type into Nova (the
// walkthrough's demo-instance1 among them); what Nova refuses is refused.
func TestInstanceNames(t *testing.T) {
	for _, n := range []string{"demo-instance1", "vm1", "APPS_INSTANCE", "web server 1", "db/primary", "café", "a", strings.Repeat("x", MaxInstanceName),
		strings.Repeat("é", MaxInstanceName)} {
		if err := ValidateInstanceName(n); err != nil {
			t.Errorf("%q refused: %v", n, err)
		}
	}
	for n, want := range map[string]string{
		"":                                     "1 to 255 characters",
		strings.Repeat("x", MaxInstanceName+1): "1 to 255 characters",
		" vm":                                  "white space",
		"vm ":                                  "white space",
		"vm\n1":                                "printable",
		"vm\x001":                              "printable",
		"vm\xff":                               "not UTF-8",
		"network1":                             "names a sandbox node",
		"compute2":                             "names a sandbox node",
	} {
		if err := ValidateInstanceName(n); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", n, err, want)
		}
	}
}

// TestInstanceNS: a short plain name is the namespace as typed; any
// other name gets a hashed one, within the kernel's limits and distinct
// from every plain one.
func TestInstanceNS(t *testing.T) {
	if got := InstanceNS("nt", "demo-instance1"); got != "nt-vm-demo-instance1" {
		t.Errorf("demo-instance1: %s", got)
	}
	long := strings.Repeat("a", 41)
	seen := map[string]string{}
	for _, n := range []string{"web server 1", "db/primary", "café", "..", "-x", long, long + "b", strings.Repeat("é", MaxInstanceName)} {
		ns := InstanceNS("nt", n)
		if !strings.HasPrefix(ns, "nt-vmh-") || len(ns) != len("nt-vmh-")+16 {
			t.Errorf("%q: namespace %q, want nt-vmh-<16 hex digits>", n, ns)
		}
		if strings.Trim(ns[len("nt-vmh-"):], "0123456789abcdef") != "" {
			t.Errorf("%q: namespace %q has more than hex digits", n, ns)
		}
		if other, dup := seen[ns]; dup {
			t.Errorf("%q and %q share %s", n, other, ns)
		}
		seen[ns] = n
		if ns != InstanceNS("nt", n) {
			t.Errorf("%q: namespace not stable", n)
		}
		if !Owned("nt", ns) {
			t.Errorf("%s is not owned by sandbox nt (down would leave it)", ns)
		}
	}
	// A plain name can never produce a hashed namespace's name.
	if got := InstanceNS("nt", "h-0123456789abcdef"); strings.HasPrefix(got, "nt-vmh-") {
		t.Errorf("plain name gave %s", got)
	}
}

// TestPortRequest: the port is owned by the project given (the network's
// unless --project) and bound to the host.
func TestPortRequest(t *testing.T) {
	p := portRequest(BootOptions{Name: "demo-instance1", Host: "compute1"}, "net-id", "demo-id")["port"].(map[string]any)
	if p["project_id"] != "demo-id" || p["network_id"] != "net-id" || p["binding:host_id"] != "compute1" ||
		p["name"] != "demo-instance1" || p["device_owner"] != "compute:nova" || p["device_id"] == "" {
		t.Errorf("port %v", p)
	}
}
