package store

// IndexFunc returns the keys under which a decoded resource is indexed
// (for example a port's binding host, or its network).
type IndexFunc func(obj any) []string

// Option configures Open.
type Option func(*Store)

// WithIndex maintains a secondary index of a kind in the cache, so that
// readers find, say, the ports of one host without scanning every port.
func WithIndex(kind, name string, fn IndexFunc) Option {
	return func(s *Store) {
		if s.indexFns[kind] == nil {
			s.indexFns[kind] = map[string]IndexFunc{}
		}
		s.indexFns[kind][name] = fn
	}
}

// indexes is kind -> index name -> key -> id -> entry.
type indexes map[string]map[string]map[string]map[string]*Entry

func (s *Store) indexAdd(idx indexes, kind string, e *Entry) {
	for name, fn := range s.indexFns[kind] {
		byName := idx[kind]
		if byName == nil {
			byName = map[string]map[string]map[string]*Entry{}
			idx[kind] = byName
		}
		byKey := byName[name]
		if byKey == nil {
			byKey = map[string]map[string]*Entry{}
			byName[name] = byKey
		}
		for _, k := range fn(e.Obj) {
			set := byKey[k]
			if set == nil {
				set = map[string]*Entry{}
				byKey[k] = set
			}
			set[e.ID] = e
		}
	}
}

func (s *Store) indexRemove(idx indexes, kind string, e *Entry) {
	for name, fn := range s.indexFns[kind] {
		byKey := idx[kind][name]
		for _, k := range fn(e.Obj) {
			if set := byKey[k]; set != nil {
				delete(set, e.ID)
				if len(set) == 0 {
					delete(byKey, k)
				}
			}
		}
	}
}

// Index returns the resources of kind indexed under key by the named
// index. The map must not be modified.
func (v *View) Index(kind, name, key string) map[string]*Entry {
	v.recordIndex(kind, name, key)
	return v.s.idx[kind][name][key]
}

// HasIndex reports whether the store maintains the named index of kind
// (an absent index and an empty key both make Index return nil).
func (v *View) HasIndex(kind, name string) bool { return v.s.indexFns[kind][name] != nil }
