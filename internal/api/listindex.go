package api

import (
	"slices"
	"unicode/utf8"

	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// indexedFilter is a list filter on an attribute the store indexes by
// value (hostview.Indexes).
type indexedFilter struct{ attr, index string }

// indexedFilters are tried in order, the most selective first.
var indexedFilters = map[string][]indexedFilter{
	model.KindPort: {{"device_id", hostview.ByDevice}, {"network_id", hostview.ByNetwork}},
}

// eachCandidate calls fn, until it returns false, for every resource of
// d's kind that may pass lq's filters: with a filter on an indexed
// attribute only the indexed entries of its values (a list of the ports
// of one device visits those, not all 10,000 ports), otherwise all. fn
// must still apply every filter; the candidates are a superset of the
// matches, in no particular order.
func (lq *listQuery) eachCandidate(v *store.View, d *resourceDef, fn func(e *store.Entry) bool) {
	for _, f := range indexedFilters[d.kind] {
		vals := lq.filters[f.attr]
		// "" is never indexed, and a value that is not valid UTF-8 may
		// still match an attribute through its JSON encoding.
		if len(vals) == 0 || !v.HasIndex(d.kind, f.index) || slices.ContainsFunc(vals, func(s string) bool { return s == "" || !utf8.ValidString(s) }) {
			continue
		}
		seen := map[string]bool{}
		for _, val := range vals {
			if seen[val] {
				continue
			}
			seen[val] = true
			for _, e := range v.Index(d.kind, f.index, val) {
				if !fn(e) {
					return
				}
			}
		}
		return
	}
	v.Each(d.kind, fn)
}
