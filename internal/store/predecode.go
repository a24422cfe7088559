package store

import "bytes"

// A write's new resources are decoded while etcd commits it. Taking a
// commit into the cache (own.go) decodes every resource the transaction
// puts; for a security group with its two default rules that was about
// 50 µs of the request, after the commit, on its critical path. The
// values are final once planned, and the request's goroutine spends the
// commit (a WAL fdatasync, 0.2-0.3 ms) waiting, so another goroutine
// decodes them meanwhile with the same decoders; the cache uses its
// result only if it finished and the bytes are the ones committed, and
// decodes as before otherwise. Nothing else changes: same decoder, same
// bytes, same value.

// predecoded is what the goroutine made of t's staged values.
type predecoded struct {
	done chan struct{}     // closed when objs is complete
	objs map[string]preObj // by key
}

type preObj struct {
	raw  []byte
	obj  any
	memo *any // what WithPrepare attached to the entry
}

// WithPrepare has fn called on each new entry of this server's own
// commits as it is decoded, off the request's path (for example to
// render it once); fn may only set the entry's Memo, which the cached
// entry then starts with.
func WithPrepare(fn func(kind string, e *Entry)) Option {
	return func(s *Store) { s.prepare = fn }
}

// predecode starts decoding t's staged resources (a no-op without any).
// Called after planning, before the commit.
func (s *Store) predecode(t *Txn) {
	if len(t.staged) == 0 {
		return
	}
	p := &predecoded{done: make(chan struct{}), objs: make(map[string]preObj, len(t.staged))}
	t.pre = p
	go func() {
		defer close(p.done)
		for key, st := range t.staged {
			dec, known := s.decoders[st.kind]
			if !known {
				continue
			}
			obj, err := dec(st.raw)
			if err != nil {
				continue
			}
			po := preObj{raw: st.raw, obj: obj}
			if s.prepare != nil {
				_, _, id, _ := s.splitKey([]byte(key))
				e := &Entry{ID: id, Obj: obj, Raw: st.raw}
				s.prepare(st.kind, e)
				po.memo = e.Memo.Load()
			}
			p.objs[key] = po
		}
	}()
}

// ready returns the decoded values if the goroutine has finished (nil
// otherwise: the cache then decodes itself rather than wait).
func (p *predecoded) ready() map[string]preObj {
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return p.objs
	default:
		return nil
	}
}

// preDecoded returns what was decoded for key if it was decoded from
// val (nil otherwise).
func preDecoded(pre map[string]preObj, key, val []byte) *preObj {
	if p, ok := pre[string(key)]; ok && bytes.Equal(p.raw, val) {
		return &p
	}
	return nil
}
