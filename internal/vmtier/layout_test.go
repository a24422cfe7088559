package vmtier

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/vmtier/vmproto"
)

// TestLayout builds the initramfs content from a fake module tree: the
// network modules come with their dependencies (soft ones too), other
// modules stay out, and init, modprobe, the test binary, tools and the
// configuration are where vminit looks for them.
func TestLayout(t *testing.T) {
	dir := t.TempDir()
	mods := filepath.Join(dir, "lib/modules/6.1.0-test")
	files := map[string]string{
		"modules.dep": `kernel/net/8021q/8021q.ko: kernel/net/802/garp.ko
kernel/net/802/garp.ko:
kernel/net/netfilter/nf_conntrack.ko: kernel/lib/libcrc32c.ko
kernel/lib/libcrc32c.ko:
kernel/crypto/crc32c_generic.ko:
kernel/fs/ext4/ext4.ko:
`,
		"modules.alias":   "alias rtnl-link-vlan 8021q\nalias crc32c crc32c_generic\nalias fs-ext4 ext4\n",
		"modules.softdep": "softdep libcrc32c pre: crc32c\n",
	}
	for _, f := range []string{"kernel/net/8021q/8021q.ko", "kernel/net/802/garp.ko", "kernel/net/netfilter/nf_conntrack.ko",
		"kernel/lib/libcrc32c.ko", "kernel/crypto/crc32c_generic.ko", "kernel/fs/ext4/ext4.ko"} {
		files[f] = "ko"
	}
	for f, body := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(mods, f)), 0o755)
		if err := os.WriteFile(filepath.Join(mods, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "bin")
	os.WriteFile(bin, []byte("x"), 0o755)
	a, err := Layout{Release: "6.1.0-test", ModulesDir: mods, Init: bin, Busybox: bin,
		TestBinaries: map[string]string{"e2e": bin, "dataplane": bin},
		Config:       vmproto.Config{Suites: []vmproto.Suite{{Name: "e2e", Run: "TestX"}, {Name: "dataplane", Run: "TestY"}}}}.Build()
	if err != nil {
		t.Fatal(err)
	}
	names := a.Names()
	for _, want := range []string{"/init", "/sbin/modprobe -> ../init", "/e2e.test", "/dataplane.test", vmproto.ConfigPath,
		"/bin/busybox", "/bin/ip", "/bin/sh -> busybox", "/var/run -> ../run", "/tmp/", "/etc/hosts",
		"/lib/modules/6.1.0-test/kernel/net/8021q/8021q.ko", "/lib/modules/6.1.0-test/kernel/net/802/garp.ko",
		"/lib/modules/6.1.0-test/kernel/crypto/crc32c_generic.ko", "/lib/modules/6.1.0-test/modules.softdep"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s in the initramfs", want)
		}
	}
	for _, n := range names {
		if strings.Contains(n, "ext4") {
			t.Errorf("%s in the initramfs: not a network module", n)
		}
	}
}
