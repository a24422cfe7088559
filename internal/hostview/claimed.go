package hostview

import (
	"net/netip"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/ipam"
	"github.com/neutrino-net/neutrino/internal/store"
)

// claimedAddrs keeps a subnet's claimed addresses (its claims.IP group)
// in order, so that automatic allocation counts its way to a free
// address (ipam.PickSet) instead of walking every used one.
type claimedAddrs struct{ set ipam.AddrSet }

func (c *claimedAddrs) Add(member string) {
	if a, err := netip.ParseAddr(member); err == nil {
		c.set.Add(a)
	}
}

func (c *claimedAddrs) Remove(member string) {
	if a, err := netip.ParseAddr(member); err == nil {
		c.set.Remove(a)
	}
}

// claimedIndex is the store option that keeps claimedAddrs.
func claimedIndex() store.Option {
	return store.WithClaimIndex(claims.IP(""), func() store.ClaimIndex { return &claimedAddrs{} })
}

// ClaimedAddrs returns the ordered set of a subnet's claimed addresses
// (nil when none is claimed); ok is false when the store keeps no such
// index (opened without Indexes). The set must not be modified.
func ClaimedAddrs(v *store.View, subnetID string) (set *ipam.AddrSet, ok bool) {
	ix, ok := v.ClaimIndex(claims.IP(subnetID))
	if c, is := ix.(*claimedAddrs); is {
		return &c.set, ok
	}
	return nil, ok
}
