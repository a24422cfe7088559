package syncproto

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"sync"
)

// WriteLine writes ev as one line of the stream, byte for byte what
// json.Encoder writes, but one object at a time and without
// encoding/json's reflection: an encoder builds the whole line in one
// buffer, and the first event of a stream is a whole view; with
// thousands of agents syncing at once, those buffers (kept for reuse by
// encoding/json) and the per-object garbage were most of the server's
// memory.
func (ev *Event) WriteLine(w io.Writer) error {
	bp := linePool.Get().(*[]byte)
	lw := lineWriter{w: w, buf: (*bp)[:0]}
	defer func() {
		if cap(lw.buf) <= 64<<10 {
			*bp = lw.buf[:0]
			linePool.Put(bp)
		}
	}()
	lw.buf = append(lw.buf, `{"revision":`...)
	lw.buf = strconv.AppendInt(lw.buf, ev.Revision, 10)
	if ev.Reset {
		lw.buf = append(lw.buf, `,"reset":true`...)
	}
	for i := range ev.Upserts {
		lw.sep(i, `,"upserts":[`)
		if err := lw.object(&ev.Upserts[i]); err != nil {
			return err
		}
		if err := lw.flush(false); err != nil {
			return err
		}
	}
	lw.end(len(ev.Upserts))
	for i, k := range ev.Deletes {
		lw.sep(i, `,"deletes":[`)
		lw.buf = append(lw.buf, `{"kind":`...)
		lw.str(k.Kind)
		lw.buf = append(lw.buf, `,"id":`...)
		lw.str(k.ID)
		lw.buf = append(lw.buf, '}')
		if err := lw.flush(false); err != nil {
			return err
		}
	}
	lw.end(len(ev.Deletes))
	lw.buf = append(lw.buf, "}\n"...)
	return lw.flush(true)
}

// linePool holds line buffers: one per event and stream was the
// stream path's largest garbage once a change concerned every agent.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// CompactData returns raw as WriteLine writes it (what json.Encoder
// does with a RawMessage: compact, HTML characters escaped), raw
// itself when that changes nothing; an error if raw is not JSON. Its
// result may be sent with Object.Compact set.
func CompactData(raw []byte) ([]byte, error) {
	var compact, escaped bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	json.HTMLEscape(&escaped, compact.Bytes())
	if bytes.Equal(escaped.Bytes(), raw) {
		return raw, nil
	}
	return escaped.Bytes(), nil
}

type lineWriter struct {
	w       io.Writer
	buf     []byte
	scratch bytes.Buffer
	escaped bytes.Buffer
}

// flush writes the buffer out once it is large (always if force).
func (lw *lineWriter) flush(force bool) error {
	if len(lw.buf) < 32<<10 && !force {
		return nil
	}
	_, err := lw.w.Write(lw.buf)
	lw.buf = lw.buf[:0]
	return err
}

// sep opens a (non-empty: omitempty) array before its first element,
// else separates elements.
func (lw *lineWriter) sep(i int, open string) {
	if i == 0 {
		lw.buf = append(lw.buf, open...)
	} else {
		lw.buf = append(lw.buf, ',')
	}
}

func (lw *lineWriter) end(n int) {
	if n > 0 {
		lw.buf = append(lw.buf, ']')
	}
}

func (lw *lineWriter) object(o *Object) error {
	lw.buf = append(lw.buf, `{"kind":`...)
	lw.str(o.Kind)
	lw.buf = append(lw.buf, `,"id":`...)
	lw.str(o.ID)
	lw.buf = append(lw.buf, `,"rev":`...)
	lw.buf = strconv.AppendInt(lw.buf, o.Rev, 10)
	lw.buf = append(lw.buf, `,"data":`...)
	switch {
	case o.Data == nil:
		lw.buf = append(lw.buf, "null"...)
	case o.Compact:
		lw.buf = append(lw.buf, o.Data...)
	default:
		// What the encoder does with a RawMessage: compact it, escaping
		// HTML characters (it rejects invalid JSON, as Compact does).
		lw.scratch.Reset()
		if err := json.Compact(&lw.scratch, o.Data); err != nil {
			return err
		}
		lw.escaped.Reset()
		json.HTMLEscape(&lw.escaped, lw.scratch.Bytes())
		lw.buf = append(lw.buf, lw.escaped.Bytes()...)
	}
	lw.buf = append(lw.buf, '}')
	return nil
}

// str appends s as a JSON string: as is when it needs no escaping (IDs
// and kinds do not), else as encoding/json writes it.
func (lw *lineWriter) str(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			lw.buf = append(lw.buf, b...)
			return
		}
	}
	lw.buf = append(lw.buf, '"')
	lw.buf = append(lw.buf, s...)
	lw.buf = append(lw.buf, '"')
}
