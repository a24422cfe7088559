package kmod

import (
	"strings"
	"testing"
)

const dep = `kernel/net/8021q/8021q.ko: kernel/net/802/garp.ko kernel/net/802/stp.ko kernel/net/802/mrp.ko kernel/net/llc/llc.ko
kernel/net/802/garp.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko
kernel/net/802/stp.ko: kernel/net/llc/llc.ko
kernel/net/802/mrp.ko:
kernel/net/llc/llc.ko:
kernel/net/ipv4/ip_gre.ko: kernel/net/ipv4/ip_tunnel.ko kernel/net/ipv4/gre.ko
kernel/net/ipv4/ip_tunnel.ko:
kernel/net/ipv4/gre.ko:
kernel/net/netfilter/nft_ct.ko: kernel/net/netfilter/nf_tables.ko
kernel/net/netfilter/nf_tables.ko:
kernel/drivers/net/veth.ko:
kernel/net/netfilter/nf_conntrack.ko: kernel/lib/libcrc32c.ko
kernel/lib/libcrc32c.ko:
kernel/crypto/crc32c_generic.ko:
`

const softdeps = `# Soft dependencies extracted from modules themselves.
softdep libcrc32c pre: crc32c
softdep nfsd pre: crypto-md5
`

const aliases = `# Aliases extracted from modules themselves.
alias rtnl-link-vlan 8021q
alias rtnl-link-gretap ip_gre
alias net-pf-16-proto-12-family-nftables nf_tables
alias nft-expr-ct nft_ct
alias nft-expr-*-ct nft_ct
alias rtnl-link-veth veth
alias pci:v00001AF4d* virtio_net
alias crc32c crc32c_generic
alias crc32c crc32c_intel
`

func index(t *testing.T) *Index {
	t.Helper()
	x, err := Parse(dep, aliases, softdeps)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestOrderPutsDependenciesFirst(t *testing.T) {
	got, err := index(t).Order("8021q", "ip-gre", "8021q")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"kernel/net/llc/llc.ko", "kernel/net/802/stp.ko", "kernel/net/802/garp.ko", "kernel/net/802/mrp.ko",
		"kernel/net/8021q/8021q.ko", "kernel/net/ipv4/ip_tunnel.ko", "kernel/net/ipv4/gre.ko", "kernel/net/ipv4/ip_gre.ko",
	}, "\n")
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("order:\n%s\nwant:\n%s", g, want)
	}
	got, _ = index(t).Order("nf_conntrack")
	if g := strings.Join(got, " "); g != "kernel/crypto/crc32c_generic.ko kernel/lib/libcrc32c.ko kernel/net/netfilter/nf_conntrack.ko" {
		t.Errorf("order with a soft dependency: %s", g)
	}
	if _, err := index(t).Order("nosuch"); err == nil {
		t.Error("unknown module: no error")
	}
}

func TestResolve(t *testing.T) {
	x := index(t)
	for req, want := range map[string]string{
		"rtnl-link-vlan":                     "8021q",
		"nft-expr-ct":                        "nft_ct",
		"nft-expr-2-ct":                      "nft_ct", // wildcard
		"ip_gre":                             "ip_gre", // a module name
		"ip-gre":                             "ip_gre",
		"net-pf-16-proto-12-family-nftables": "nf_tables",
		"pci:v00001AF4d00001000":             "", // alias of a module not in the index
		"rtnl-link-dummy":                    "",
	} {
		if got := strings.Join(x.Resolve(req), ","); got != want {
			t.Errorf("Resolve(%q) = %q, want %q", req, got, want)
		}
	}
}

func TestUnderAndSubset(t *testing.T) {
	x := index(t)
	files := x.Under("kernel/net/ipv4", "kernel/drivers/net/veth.ko", "kernel/net/netfilter/")
	if got := strings.Join(files, " "); got != "kernel/drivers/net/veth.ko kernel/net/ipv4/gre.ko kernel/net/ipv4/ip_gre.ko kernel/net/ipv4/ip_tunnel.ko kernel/net/netfilter/nf_conntrack.ko kernel/net/netfilter/nf_tables.ko kernel/net/netfilter/nft_ct.ko" {
		t.Errorf("Under: %s", got)
	}
	d, a, sd := x.Subset([]string{"kernel/net/ipv4/ip_gre.ko", "kernel/net/ipv4/gre.ko", "kernel/net/ipv4/ip_tunnel.ko", "kernel/lib/libcrc32c.ko"})
	if sd != "softdep libcrc32c pre: crc32c\n" {
		t.Errorf("subset softdep:\n%s", sd)
	}
	if d != "kernel/lib/libcrc32c.ko:\nkernel/net/ipv4/gre.ko:\nkernel/net/ipv4/ip_gre.ko: kernel/net/ipv4/ip_tunnel.ko kernel/net/ipv4/gre.ko\nkernel/net/ipv4/ip_tunnel.ko:\n" {
		t.Errorf("subset dep:\n%s", d)
	}
	if a != "alias rtnl-link-gretap ip_gre\n" {
		t.Errorf("subset alias:\n%s", a)
	}
	if Name("kernel/net/ipv4/ip_gre.ko.xz") != "ip_gre" {
		t.Error("Name keeps the compression suffix")
	}
}
