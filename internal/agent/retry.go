package agent

import (
	"slices"
	"time"

	"github.com/neutrino-net/neutrino/internal/dataplane"
)

// Failure isolation: a namespace whose apply fails is held (left as it
// is) until its own retry time, which backs off exponentially up to
// nsRetryMax, while every other namespace goes on converging. A failure
// is logged when it starts or its error changes, not on every retry.

const (
	nsRetryMin = 200 * time.Millisecond
	nsRetryMax = time.Minute
)

type nsRetry struct {
	fails int
	next  time.Time
	err   string
}

// held reports whether a namespace waits for its retry.
func (a *Agent) held(name string) bool {
	r := a.retry[name]
	return r != nil && time.Now().Before(r.next)
}

// converged reports whether a namespace's desired state is applied.
func (a *Agent) converged(name string) bool { return a.retry[name] == nil }

// noteNamespaces records each namespace's outcome: failures get their
// next retry time (and a wake-up then), successes clear theirs. The
// ports of a held namespace count as plugged as they last were. It
// returns the ports whose plugged state may have changed (those of the
// namespaces whose plugged ports changed).
func (a *Agent) noteNamespaces(res *dataplane.Result) (changed []string) {
	now := time.Now()
	for name, nr := range res.Namespaces {
		if nr.Held || nr.Deferred {
			for _, id := range a.plugged[name] {
				res.Plugged[id] = true
			}
			continue
		}
		if old, ok := a.plugged[name]; !ok || !slices.Equal(old, nr.Plugged) {
			changed = append(append(changed, old...), nr.Plugged...)
		}
		a.plugged[name] = nr.Plugged
		r := a.retry[name]
		if nr.Err == nil {
			if r != nil {
				a.log.Info("namespace converged after failures", "netns", name, "failures", r.fails)
				delete(a.retry, name)
			}
			continue
		}
		if r == nil {
			r = &nsRetry{}
			a.retry[name] = r
		}
		r.fails++
		delay := min(nsRetryMin<<min(r.fails-1, 16), nsRetryMax)
		r.next = now.Add(delay)
		if msg := nr.Err.Error(); msg != r.err {
			a.log.Warn("namespace not converged; retrying it alone with backoff", "netns", name, "err", nr.Err, "retry_in", delay)
			r.err = msg
		}
		time.AfterFunc(delay, a.wake)
	}
	for name := range a.retry {
		if res.Namespaces[name] == nil {
			delete(a.retry, name)
		}
	}
	for name, ids := range a.plugged {
		if res.Namespaces[name] == nil {
			changed = append(changed, ids...)
			delete(a.plugged, name)
		}
	}
	return changed
}
