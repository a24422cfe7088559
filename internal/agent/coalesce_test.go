package agent

import (
	"testing"
	"time"
)

// TestCoalesceWait: reconciles start at most every minReconcileInterval;
// a reconcile that took that long or longer is followed by no pause.
func TestCoalesceWait(t *testing.T) {
	for _, c := range []struct{ elapsed, want time.Duration }{
		{0, minReconcileInterval},
		{5 * time.Millisecond, minReconcileInterval - 5*time.Millisecond},
		{minReconcileInterval, 0},
		{45 * time.Millisecond, 0},
	} {
		if got := coalesceWait(c.elapsed); got != c.want {
			t.Errorf("coalesceWait(%s) = %s, want %s", c.elapsed, got, c.want)
		}
	}
}
