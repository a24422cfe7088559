package syncproto

import (
	"bytes"
	"io"
	"slices"
	"sync"
)

// LineCache keeps the line of the last small event written through it,
// so that streams sending the same event write bytes built once: a rule
// of a group every host holds is the same event (same revision, same
// objects) on thousands of streams, and each built the same line.
type LineCache struct {
	mu   sync.Mutex
	ev   Event // the cached event's revision and objects
	line []byte
}

// maxCachedObjects bounds the events LineCache keeps: the events many
// streams share are one change's few objects; a view is per host.
const maxCachedObjects = 4

// WriteLine writes ev's line (WriteLine) to w, built once for the same
// event written again, in one Write.
func (c *LineCache) WriteLine(w io.Writer, ev *Event) error {
	if ev.Reset || len(ev.Upserts)+len(ev.Deletes) > maxCachedObjects {
		return ev.WriteLine(w)
	}
	c.mu.Lock()
	line := c.line
	if line == nil || !sameEvent(&c.ev, ev) {
		var b bytes.Buffer
		if err := ev.WriteLine(&b); err != nil {
			c.mu.Unlock()
			return err
		}
		// Copies: the caller may reuse ev's slices.
		c.ev = Event{Revision: ev.Revision, Upserts: slices.Clone(ev.Upserts), Deletes: slices.Clone(ev.Deletes)}
		c.line, line = b.Bytes(), b.Bytes()
	}
	c.mu.Unlock()
	_, err := w.Write(line)
	return err
}

// sameEvent reports whether b writes the same line as a (neither a
// reset): the same revision, objects and data.
func sameEvent(a, b *Event) bool {
	return a.Revision == b.Revision && slices.Equal(a.Deletes, b.Deletes) &&
		slices.EqualFunc(a.Upserts, b.Upserts, func(x, y Object) bool {
			return x.Kind == y.Kind && x.ID == y.ID && x.Rev == y.Rev && x.Compact == y.Compact && sameData(x.Data, y.Data)
		})
}

// sameData compares data, by identity first (streams share one
// compacted copy of an object's data).
func sameData(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0] || bytes.Equal(a, b)
}
