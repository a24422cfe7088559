package nft

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/vishvananda/netns"
)

// MarkVerdicts reads a verdict map keyed by mark (desired.TypeMark) of
// an owned table in namespace ns: mark to "jump <chain>". A missing
// table or map reads as empty. The security group planner recovers its
// ports' mark indexes from it when the agent starts.
func MarkVerdicts(ns netns.NsHandle, family, table, name string) (map[uint32]string, error) {
	fam, ok := families[family]
	if !ok {
		return nil, fmt.Errorf("nft: unknown family %q", family)
	}
	c, err := open(ns)
	if err != nil {
		return nil, err
	}
	defer c.close()
	t := &nftables.Table{Family: fam, Name: table}
	return consistent(c.genID, func() (map[uint32]string, error) { return c.markVerdicts(t, name) })
}

// markVerdicts is one read of MarkVerdicts' map.
func (c *conn) markVerdicts(t *nftables.Table, name string) (map[uint32]string, error) {
	sets, err := c.c.GetSets(t)
	if err != nil {
		return map[uint32]string{}, nil // no such table
	}
	out := map[uint32]string{}
	for _, s := range sets {
		if s.Name != name || !s.IsMap {
			continue
		}
		els, err := c.c.GetSetElements(s)
		if err == nil {
			err = CheckElements(els)
		}
		if err != nil {
			return nil, fmt.Errorf("list elements of %s: %w", name, err)
		}
		for _, e := range els {
			if len(e.Key) == 4 {
				out[binaryutil.NativeEndian.Uint32(e.Key)] = decodeVerdict(e.Val)
			}
		}
	}
	return out, nil
}
