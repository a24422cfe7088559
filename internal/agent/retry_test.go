package agent

import (
	"errors"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/dataplane"
)

// A failing namespace is held for its own, growing, retry time while the
// others are applied every round; its ports stay as last plugged.
func TestNamespaceBackoff(t *testing.T) {
	a := New(&Config{Host: "h1", ServerURL: "http://127.0.0.1:1"}, nil)
	round := func(badErr error, held bool) *dataplane.Result {
		res := &dataplane.Result{Plugged: map[string]bool{}, Namespaces: map[string]*dataplane.NamespaceResult{
			"qrouter-good": {Plugged: []string{"pg"}},
			"qrouter-bad":  {Plugged: []string{"pb"}, Err: badErr, Held: held},
		}}
		if held {
			res.Namespaces["qrouter-bad"] = &dataplane.NamespaceResult{Held: true}
		}
		a.noteNamespaces(res)
		return res
	}
	round(nil, false)
	if a.held("qrouter-bad") || !a.converged("qrouter-bad") {
		t.Fatal("healthy namespace held")
	}
	round(errors.New("bridge missing"), false)
	if !a.held("qrouter-bad") || a.held("qrouter-good") || a.converged("qrouter-bad") {
		t.Fatalf("after a failure: held bad %v good %v", a.held("qrouter-bad"), a.held("qrouter-good"))
	}
	first := a.retry["qrouter-bad"].next
	res := round(nil, true)
	if !res.Plugged["pb"] {
		t.Error("a held namespace's ports are no longer counted as plugged")
	}
	a.retry["qrouter-bad"].next = time.Now() // due
	round(errors.New("bridge missing"), false)
	if r := a.retry["qrouter-bad"]; r.fails != 2 || !r.next.After(first) {
		t.Fatalf("second failure: %+v (first retry at %v)", r, first)
	}
	a.retry["qrouter-bad"].next = time.Now()
	round(nil, false)
	if !a.converged("qrouter-bad") || a.held("qrouter-bad") {
		t.Fatal("namespace still backing off after it converged")
	}
	for range 40 {
		a.retry["qrouter-bad"] = &nsRetry{fails: 30}
		round(errors.New("x"), false)
		if d := time.Until(a.retry["qrouter-bad"].next); d > nsRetryMax {
			t.Fatalf("backoff %v beyond the cap", d)
		}
	}
}
