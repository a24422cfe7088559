package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// What a caller learns when etcd does not answer (leader failover, lost
// quorum, network partition) — see docs/consistency.md:
//
//   - ErrUnavailable: the store could not confirm anything; a read was
//     not served, a write was not sent (or was sent and is known not to
//     have been applied). Retrying is safe.
//   - ErrOutcomeUnknown: a write was sent and etcd did not say whether
//     it was applied, and re-reading could not tell either. It may take
//     effect later. The caller should re-read before retrying.
//
// When a write's outcome is unknown the store re-reads the keys it
// wrote: if they hold exactly what the transaction wrote, all at one
// revision (deleted keys absent at it), the transaction was applied and
// Update succeeds as if etcd had answered. A delete whose answer was
// lost is thus reported as done, not as a failure or a later 404.
var (
	ErrUnavailable    = errors.New("store: etcd unavailable")
	ErrOutcomeUnknown = errors.New("store: etcd did not confirm the change; it may or may not have been applied")
)

// DefaultTimeout bounds each etcd request the store makes for a request
// (a quorum read, a transaction, waiting for the cache). An etcd leader
// election takes about a second with default settings; a request that
// waits longer answers 503 rather than hang.
const DefaultTimeout = 5 * time.Second

// settleTime is how long a write whose answer was lost, and which is not
// (yet) seen applied, is re-read before the store reports its outcome
// unknown.
const settleTime = time.Second

// WithTimeout sets the bound of each etcd request (DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WrapKV sends transactions through wrap(the client's KV) (tests use it
// to lose etcd's answers).
func WrapKV(wrap func(clientv3.KV) clientv3.KV) Option {
	return func(s *Store) { s.kv = wrap(s.kv) }
}

// unavailable reports whether err says etcd could not be reached or did
// not answer in time, rather than refusing the request.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, clientv3.ErrNoAvailableEndpoints) || errors.Is(err, ErrUnavailable) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable || ee.Code() == codes.DeadlineExceeded
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if st, ok := status.FromError(e); ok && st.Code() != codes.OK && st.Code() != codes.Unknown {
			c := st.Code()
			return c == codes.Unavailable || c == codes.DeadlineExceeded || c == codes.Canceled
		}
	}
	// Errors the client passes on as text (gRPC transport errors).
	msg := err.Error()
	return strings.Contains(msg, "no leader") || strings.Contains(msg, "leader changed") ||
		strings.Contains(msg, "timed out") || strings.Contains(msg, "connection refused")
}

// classify wraps err in ErrUnavailable if it is an availability failure.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// commit sends the transaction. If etcd's answer is lost, it re-reads
// what the transaction wrote to learn whether it was applied; it returns
// the commit revision and whether the guards held.
func (s *Store) commit(ctx context.Context, t *Txn) (rev int64, ok bool, err error) {
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	resp, err := s.kv.Txn(tctx).If(t.cmps...).Then(t.ops...).Commit()
	cancel()
	if err == nil {
		return resp.Header.Revision, resp.Succeeded, nil
	}
	if !unavailable(err) {
		return 0, false, fmt.Errorf("etcd txn: %w", err)
	}
	// The request may or may not have been applied. Ask again until our
	// time is up: etcd may be electing a leader, and a transaction still
	// in the old leader's log is settled soon after the election.
	deadline := time.Now().Add(s.timeout)
	settle := time.Now().Add(settleTime)
	for {
		rev, applied, cerr := s.wasApplied(ctx, t)
		if cerr == nil && applied {
			return rev, true, nil
		}
		if cerr == nil && time.Now().After(settle) {
			return 0, false, fmt.Errorf("%w (etcd: %v)", ErrOutcomeUnknown, err)
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return 0, false, fmt.Errorf("%w (etcd: %v; re-reading: %v)", ErrOutcomeUnknown, err, cerr)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// wasApplied reads whether t's operations are all in effect at one
// revision after the view t was planned on: the first key t writes must
// have changed since, and at the revision of that change every key t
// puts must hold t's value (changed at that revision) and every key it
// deletes must be absent. False with a nil error means "cannot tell".
func (s *Store) wasApplied(ctx context.Context, t *Txn) (int64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if len(t.ops) == 0 {
		return 0, false, nil
	}
	first := string(t.ops[0].KeyBytes())
	cur, err := s.cli.Get(ctx, first)
	if err != nil {
		return 0, false, err
	}
	if len(cur.Kvs) > 0 && cur.Kvs[0].ModRevision <= t.readRev {
		return 0, false, nil // not applied (yet)
	}
	// The first change of the key after our view is ours if ours was
	// applied: its guards say nothing changed it in between.
	rev, err := s.firstChange(ctx, first, t.readRev+1, cur.Header.Revision)
	if err != nil || rev == 0 {
		return 0, false, err
	}
	gets := make([]clientv3.Op, len(t.ops))
	for i, op := range t.ops {
		gets[i] = clientv3.OpGet(string(op.KeyBytes()), clientv3.WithRev(rev))
	}
	resp, err := s.cli.Txn(ctx).Then(gets...).Commit()
	if err != nil {
		return 0, false, err
	}
	for i, op := range t.ops {
		kvs := resp.Responses[i].GetResponseRange().Kvs
		switch {
		case op.IsPut():
			if len(kvs) != 1 || kvs[0].ModRevision != rev || !bytes.Equal(kvs[0].Value, op.ValueBytes()) {
				return 0, false, nil
			}
		case op.IsDelete():
			if len(kvs) != 0 {
				return 0, false, nil
			}
		}
	}
	return rev, true, nil
}

// firstChange returns the revision of the first change of key in
// [from, upto], read from etcd's history (0 if none is recorded).
func (s *Store) firstChange(ctx context.Context, key string, from, upto int64) (int64, error) {
	if from > upto {
		return 0, nil
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for resp := range s.cli.Watch(wctx, key, clientv3.WithRev(from)) {
		if err := resp.Err(); err != nil {
			return 0, err
		}
		for _, ev := range resp.Events {
			if ev.Type == mvccpb.PUT || ev.Type == mvccpb.DELETE {
				if ev.Kv.ModRevision > upto {
					return 0, nil
				}
				return ev.Kv.ModRevision, nil
			}
		}
	}
	return 0, ctx.Err()
}
