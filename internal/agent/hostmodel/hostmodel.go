// Package hostmodel is an agent's local model of what concerns its host,
// fed by the server's list+watch stream (syncproto). It keeps the stored
// objects exactly as the server sent them and the revision they reflect,
// reconnects after a dropped stream and resumes from that revision, so
// no change is lost or applied twice.
package hostmodel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// Model is the objects of one host's view at one revision.
type Model struct {
	mu  sync.RWMutex
	rev int64
	// objects holds each object as the server sent it and as its Go
	// type, decoded once when it arrives (held.v): a snapshot then costs
	// pointer copies, not JSON decoding of the whole view on every
	// reconcile (with thousands of floating IPs that decoding, not the
	// kernel, would be what grows). One map for both: an event's object
	// costs one lookup and at most one insert, where two maps cost three
	// operations (a rule reaching 5,000 simulated agents made them a
	// tenth of the agents' work, each a cache miss).
	objects map[syncproto.Key]held
	bad     map[syncproto.Key]error
	synced  bool
	// changes is the log of applied changes since floor (see Change).
	changes []Change
	floor   int64
	// view is the decoded objects as a snapshot kept up to date (see
	// view.go); lent marks its maps that snapshots share.
	view *Snapshot
	lent [nViewMaps]bool
	// shared, if set, holds one copy of objects for many models.
	shared *Shared
}

// held is one object of the model: its JSON as sent, and its decoded
// value (nil when it does not decode, or is of a kind the model does
// not decode).
type held struct {
	obj syncproto.Object
	v   any
}

// New returns an empty model.
func New() *Model {
	return &Model{objects: map[syncproto.Key]held{}, bad: map[syncproto.Key]error{}, view: newView()}
}

// Apply applies one stream event.
func (m *Model) Apply(ev *syncproto.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ev.Reset {
		m.objects = map[syncproto.Key]held{}
		m.bad = map[syncproto.Key]error{}
		m.changes, m.floor = nil, ev.Revision
		m.view, m.lent = newView(), [nViewMaps]bool{}
	}
	for _, o := range ev.Upserts {
		var v any
		var err error
		if m.shared != nil {
			o, v, err = m.shared.decode(o)
		} else {
			v, err = decodeObject(o.Kind, o.Data)
		}
		// After sharing: the key's strings are then the shared ones.
		k := syncproto.Key{Kind: o.Kind, ID: o.ID}
		old := m.objects[k].v
		if len(m.bad) > 0 {
			delete(m.bad, k)
		}
		if err != nil {
			m.bad[k] = err
			m.objects[k] = held{obj: o}
			if old != nil {
				m.viewSet(k.ID, old, nil)
			}
			m.record(ev.Revision, k, old, nil)
			continue
		}
		if v == nil {
			// A kind the model does not decode: as before, the value
			// (none) stays.
			m.objects[k] = held{obj: o, v: old}
			continue
		}
		m.objects[k] = held{obj: o, v: v}
		m.viewSet(k.ID, old, v)
		m.record(ev.Revision, k, old, v)
	}
	for _, k := range ev.Deletes {
		if old := m.objects[k].v; old != nil {
			m.viewSet(k.ID, old, nil)
			m.record(ev.Revision, k, old, nil)
		}
		delete(m.objects, k)
		delete(m.bad, k)
	}
	m.rev = ev.Revision
	m.synced = true
}

// Revision is the store revision the model reflects (0 before the first
// event).
func (m *Model) Revision() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.rev
}

// Synced reports whether the model has received its first full view:
// until then an agent must not delete anything from the kernel.
func (m *Model) Synced() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.synced
}

// Get returns one object.
func (m *Model) Get(kind, id string) (syncproto.Object, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h, ok := m.objects[syncproto.Key{Kind: kind, ID: id}]
	return h.obj, ok
}

// Decode fills dst from one object's JSON.
func (m *Model) Decode(kind, id string, dst any) (bool, error) {
	o, ok := m.Get(kind, id)
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(o.Data, dst)
}

// Each calls fn for every object of kind.
func (m *Model) Each(kind string, fn func(o syncproto.Object)) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for k, h := range m.objects {
		if k.Kind == kind {
			fn(h.obj)
		}
	}
}

// Revisions returns every object's key and mod revision.
func (m *Model) Revisions() map[syncproto.Key]int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[syncproto.Key]int64, len(m.objects))
	for k, h := range m.objects {
		out[k] = h.obj.Rev
	}
	return out
}

// Client speaks the agent protocol to one server.
type Client struct {
	URL    string // the server's endpoint, e.g. http://127.0.0.1:9696
	Host   string
	HTTP   *http.Client
	Header http.Header // credentials: X-Auth-Token, or noauth X-Project-Id/X-Roles
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, rd)
	if err != nil {
		return err
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Report registers the host's agents and heartbeats.
func (c *Client) Report(ctx context.Context, req *syncproto.ReportRequest) (*syncproto.ReportResponse, error) {
	req.Host = c.Host
	var resp syncproto.ReportResponse
	if err := c.do(ctx, "POST", syncproto.PathReport, req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Status reports data-plane status.
func (c *Client) Status(ctx context.Context, rep *syncproto.StatusReport) error {
	rep.Host = c.Host
	return c.do(ctx, "POST", syncproto.PathStatus, rep, nil)
}

// ClaimHA claims an HA router for the agent (docs/ha.md).
func (c *Client) ClaimHA(ctx context.Context, routerID, agentID string) (*syncproto.HAClaimResult, error) {
	var res syncproto.HAClaimResult
	if err := c.do(ctx, "POST", syncproto.PathHAClaim, &syncproto.HAClaim{Host: c.Host, RouterID: routerID, AgentID: agentID}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Watch streams the host's view into m from m's revision, once: it
// returns when the stream ends or fails. onEvent (optional) runs after
// each applied event.
func (c *Client) Watch(ctx context.Context, m *Model, onEvent func(*syncproto.Event)) error {
	u := c.URL + syncproto.PathHosts + url.PathEscape(c.Host) + "/watch?revision=" + strconv.FormatInt(m.Revision(), 10)
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	// The stream is long-lived: no client timeout, only the context.
	hc := *c.httpClient()
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("watch %s: %s: %s", c.Host, resp.Status, bytes.TrimSpace(b))
	}
	// A small reader, and each line longer than its buffer in a buffer
	// of its own: a scanner would keep, for the stream's whole life, a
	// buffer as large as the largest event (the initial view).
	rd := bufio.NewReaderSize(resp.Body, 4<<10)
	for {
		line, err := readLine(rd, maxEvent)
		if err != nil {
			return err
		}
		var ev syncproto.Event
		if err := ev.ReadLine(line); err != nil {
			return fmt.Errorf("watch %s: bad event: %w", c.Host, err)
		}
		m.Apply(&ev)
		if onEvent != nil {
			onEvent(&ev)
		}
	}
}

// maxEvent bounds one stream event (a whole view).
const maxEvent = 256 << 20

// readLine reads one newline-terminated line of at most max bytes; a
// stream that ends is io.ErrUnexpectedEOF (streams do not end). A line
// that fits in rd's buffer (a change, as opposed to a whole view) is
// returned in that buffer, valid until the next read from rd: the
// decoder copies what it keeps, and a new slice per line was a tenth of
// the simulated agents' allocations.
func readLine(rd *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		part, err := rd.ReadSlice('\n')
		if err == nil && line == nil && len(part) <= max {
			return part, nil
		}
		if len(line)+len(part) > max {
			return nil, fmt.Errorf("stream event over %d bytes", max)
		}
		line = append(line, part...)
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// Follow keeps m in sync until ctx ends, reconnecting with jittered
// backoff and resuming from the model's revision.
func (c *Client) Follow(ctx context.Context, m *Model, onEvent func(*syncproto.Event), onError func(error)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := c.Watch(ctx, m, onEvent)
		if ctx.Err() != nil {
			return
		}
		if onError != nil && err != nil {
			onError(err)
		}
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		sleep := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(sleep):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
