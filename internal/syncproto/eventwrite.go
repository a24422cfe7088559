package syncproto

import (
	"encoding/json"
	"io"
	"strconv"
)

// WriteLine writes ev as one line of the stream, byte for byte what
// json.Encoder writes, but one object at a time: an encoder builds the
// whole line in one buffer, and the first event of a stream is a whole
// view; with thousands of agents syncing at once, those buffers (kept
// for reuse by encoding/json) were most of the server's memory.
func (ev *Event) WriteLine(w io.Writer) error {
	buf := make([]byte, 0, 4<<10)
	flush := func(force bool) error {
		if len(buf) < 32<<10 && !force {
			return nil
		}
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	}
	buf = append(buf, `{"revision":`...)
	buf = strconv.AppendInt(buf, ev.Revision, 10)
	if ev.Reset {
		buf = append(buf, `,"reset":true`...)
	}
	if err := writeArray(&buf, flush, `,"upserts":`, ev.Upserts); err != nil {
		return err
	}
	if err := writeArray(&buf, flush, `,"deletes":`, ev.Deletes); err != nil {
		return err
	}
	buf = append(buf, "}\n"...)
	return flush(true)
}

// writeArray appends a non-empty slice member (omitempty) element by
// element, flushing as the buffer fills.
func writeArray[T any](buf *[]byte, flush func(bool) error, name string, items []T) error {
	if len(items) == 0 {
		return nil
	}
	*buf = append(*buf, name...)
	for i := range items {
		b, err := json.Marshal(&items[i])
		if err != nil {
			return err
		}
		if i == 0 {
			*buf = append(*buf, '[')
		} else {
			*buf = append(*buf, ',')
		}
		*buf = append(*buf, b...)
		if err := flush(false); err != nil {
			return err
		}
	}
	*buf = append(*buf, ']')
	return nil
}
