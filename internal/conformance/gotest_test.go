package conformance

import (
	"strings"
	"testing"
)

// TestParseGoTest reads a go test -json stream as the acceptance run
// prints it: top-level results only, skip reasons without their file
// prefix, a failing test's log, a package that did not build.
func TestParseGoTest(t *testing.T) {
	const pkg = "github.com/gophercloud/gophercloud/v2/internal/acceptance/openstack/networking/v2"
	ev := func(action, p, test, out string) string {
		s := `{"Action":"` + action + `","Package":"` + p + `"`
		if test != "" {
			s += `,"Test":"` + test + `"`
		}
		if out != "" {
			s += `,"Output":` + quote(out)
		}
		return s + "}\n"
	}
	stream := ev("run", pkg, "TestNetworksList", "") +
		ev("output", pkg, "TestNetworksList", "=== RUN   TestNetworksList\n") +
		ev("pass", pkg, "TestNetworksList/sub", "") +
		ev("pass", pkg, "TestNetworksList", "") +
		ev("output", pkg+"/extensions/qos/policies", "TestPoliciesCRUD", "    policies_test.go:21: Extension qos not enabled\n") +
		ev("output", pkg+"/extensions/qos/policies", "TestPoliciesCRUD", "--- SKIP: TestPoliciesCRUD (0.01s)\n") +
		ev("skip", pkg+"/extensions/qos/policies", "TestPoliciesCRUD", "") +
		ev("output", pkg+"/extensions/layer3", "TestRouters", "    routers_test.go:40: Expected 200 but got 409\n") +
		ev("fail", pkg+"/extensions/layer3", "TestRouters", "") +
		ev("fail", pkg+"/extensions/layer3", "", "") +
		"# some build error line\n" +
		ev("output", pkg+"/extensions/bgp", "", "FAIL\tbuild failed\n") +
		ev("output", pkg+"/extensions/bgp", "", "setup failed: no such package\n") +
		ev("fail", pkg+"/extensions/bgp", "", "")
	res, err := ParseGoTest(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Passed) != 1 || res.Passed[0] != "v2.TestNetworksList" {
		t.Fatalf("passed %v", res.Passed)
	}
	if len(res.Skipped) != 1 || res.Skipped[0] != (Skip{ID: "extensions/qos/policies.TestPoliciesCRUD", Reason: "Extension qos not enabled"}) {
		t.Fatalf("skipped %v", res.Skipped)
	}
	if len(res.Failed) != 2 || res.Failed[0].ID != "extensions/bgp" || res.Failed[1].ID != "extensions/layer3.TestRouters" ||
		res.Failed[1].Output[0] != "routers_test.go:40: Expected 200 but got 409" {
		t.Fatalf("failed %+v", res.Failed)
	}
	var sum strings.Builder
	res.WriteSummary(&sum)
	for _, want := range []string{"1 passed, 2 failed, 1 skipped", "extensions/layer3.TestRouters", "Extension qos not enabled (1)"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
