package store

import "strings"

// ClaimIndex is a structure derived from the members of one claim group
// and kept with the cache (for example a subnet's claimed addresses in
// order, so that picking a free one need not walk the used ones). Add is
// told of every member put (also one already there), Remove of every
// member deleted.
type ClaimIndex interface {
	Add(member string)
	Remove(member string)
}

// claimIndexFn makes the index of claim groups named with a prefix.
type claimIndexFn struct {
	prefix string
	make   func() ClaimIndex
}

// WithClaimIndex keeps an index made by newIndex for every claim group
// whose name starts with prefix, changed under the cache's lock with the
// group's members.
func WithClaimIndex(prefix string, newIndex func() ClaimIndex) Option {
	return func(s *Store) {
		s.claimIndexFns = append(s.claimIndexFns, claimIndexFn{prefix: prefix, make: newIndex})
	}
}

// claimIndexAdd tells group's index, if the group has one, of member.
func (s *Store) claimIndexAdd(cidx map[string]ClaimIndex, group, member string) {
	ix := cidx[group]
	if ix == nil {
		for _, f := range s.claimIndexFns {
			if strings.HasPrefix(group, f.prefix) {
				ix = f.make()
				cidx[group] = ix
				break
			}
		}
		if ix == nil {
			return
		}
	}
	ix.Add(member)
}

// claimIndexRemove tells group's index that member is gone; the index
// goes with the group's last member.
func (s *Store) claimIndexRemove(group, member string, last bool) {
	ix := s.claimIdx[group]
	if ix == nil {
		return
	}
	if last {
		delete(s.claimIdx, group)
		return
	}
	ix.Remove(member)
}

// ClaimIndex returns the index of a claim group (WithClaimIndex). ok is
// false if the store keeps no index for such groups; an indexed group
// without members has a nil index. The index must not be modified.
func (v *View) ClaimIndex(group string) (ix ClaimIndex, ok bool) {
	v.recordOpaque()
	for _, f := range v.s.claimIndexFns {
		if strings.HasPrefix(group, f.prefix) {
			return v.s.claimIdx[group], true
		}
	}
	return nil, false
}

// ClaimedMembers are the members of group this transaction takes or
// releases (see Claimed). The map must not be modified.
func (t *Txn) ClaimedMembers(group string) map[string]bool { return t.claimed[group] }
