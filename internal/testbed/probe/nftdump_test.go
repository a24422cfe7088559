package probe

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/neutrino-net/neutrino/internal/dataplane/nft"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

func key4(u uint32) []byte { return binary.BigEndian.AppendUint32(nil, u) }

// A set dump that returns an element twice (a hash set resized while it
// was dumped, so others are missing) is refused, for the read to be
// done again, instead of being rendered as the set's content.
func TestSetLineRefusesTornDump(t *testing.T) {
	whole := []nftables.SetElement{{Key: key4(1)}, {Key: key4(2)}, {Key: key4(3)}}
	line, err := setLine("s", whole)
	if err != nil || line != "  set s { [0 0 0 1], [0 0 0 2], [0 0 0 3] }\n" {
		t.Fatalf("whole dump: %q, %v", line, err)
	}
	torn := []nftables.SetElement{{Key: key4(1)}, {Key: key4(1)}, {Key: key4(3)}}
	if line, err := setLine("s", torn); !errors.Is(err, nft.ErrTornDump) {
		t.Fatalf("torn dump: %q, %v; want ErrTornDump", line, err)
	}
	// An interval set holds the end of one range and the start of the
	// next under one key: no duplicate.
	ranges := []nftables.SetElement{{Key: key4(1)}, {Key: key4(2), IntervalEnd: true}, {Key: key4(2)}, {Key: key4(3), IntervalEnd: true}}
	if _, err := setLine("r", ranges); err != nil {
		t.Fatalf("interval set: %v", err)
	}
}

// NFTDump reads a namespace's ruleset through the consistent read-back:
// a big hash set (grown in one transaction, so the kernel resizes it
// afterwards) comes back whole, every element once.
func TestNFTDumpBigSet(t *testing.T) {
	ns := testutil.NewNetNS(t, "nftdump")
	h, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		t.Fatal(err)
	}
	tb := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "probe_test"})
	c.AddChain(&nftables.Chain{Name: "in", Table: tb})
	set := &nftables.Set{Table: tb, Name: "big", KeyType: nftables.TypeIPAddr}
	const n = 3000
	els := make([]nftables.SetElement, n)
	for i := range els {
		els[i] = nftables.SetElement{Key: key4(0x0a000000 + uint32(i))}
	}
	if err := c.AddSet(set, els); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Skipf("nftables in a namespace (kernel nf_tables): %v", err)
	}
	out := NFTDump(ns)
	if strings.Contains(out, "(nftables:") || !strings.Contains(out, "table inet probe_test\n  chain in\n") {
		t.Fatalf("dump:\n%.500s", out)
	}
	i := strings.Index(out, "  set big { ")
	if i < 0 {
		t.Fatalf("no set in dump:\n%.500s", out)
	}
	line := out[i+len("  set big { "):]
	line = line[:strings.Index(line, " }\n")]
	got := strings.Split(line, ", ")
	seen := map[string]bool{}
	for _, e := range got {
		seen[e] = true
	}
	if len(got) != n || len(seen) != n {
		t.Fatalf("set big: %d elements, %d distinct; want %d", len(got), len(seen), n)
	}
}
