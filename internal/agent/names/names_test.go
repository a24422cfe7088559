package names

import "testing"

func TestNamespaces(t *testing.T) {
	host1 := Namespaces{Suffix: "@compute1"}
	name := host1.Build(PrefixDHCP, "n1")
	if name != "qdhcp-n1@compute1" {
		t.Fatalf("built %q", name)
	}
	if p, id, ok := host1.Parse(name); !ok || p != PrefixDHCP || id != "n1" {
		t.Fatalf("parse: %q %q %v", p, id, ok)
	}
	for _, other := range []string{"qdhcp-n1@compute2", "qdhcp-n1", "something@compute1", "qrouter-@compute1"} {
		if _, _, ok := host1.Parse(other); ok {
			t.Errorf("%q parsed as ours", other)
		}
	}
	prod := Namespaces{}
	if _, _, ok := prod.Parse("qrouter-r1@compute1"); ok {
		t.Error("a suffixed namespace parsed as a production agent's")
	}
	if _, id, ok := prod.Parse("qrouter-r1"); !ok || id != "r1" {
		t.Error("production name not parsed")
	}
}

func TestDeviceNamesFit(t *testing.T) {
	id := "0123456789abcdef-0123"
	for _, n := range []string{Tap(id), DHCPInner(id), RouterInterface(id), RouterGateway(id), SNATInterface(id), FIPGateway(id), Bridge(id), VXLAN(16777215)} {
		if len(n) > 15 {
			t.Errorf("%q is longer than 15", n)
		}
	}
}
