package dataplane

import (
	"errors"
	"testing"

	"github.com/vishvananda/netlink"
)

// An interrupted dump is retried; its possibly inconsistent result is
// never returned as good.
func TestDumpRetriesInterrupted(t *testing.T) {
	calls := 0
	got, err := dump(func() ([]int, error) {
		calls++
		if calls < 3 {
			return []int{-1}, netlink.ErrDumpInterrupted
		}
		return []int{1, 2}, nil
	})
	if err != nil || calls != 3 || len(got) != 2 {
		t.Fatalf("got %v, %v after %d calls", got, err, calls)
	}
	calls = 0
	_, err = dump(func() ([]int, error) { calls++; return nil, netlink.ErrDumpInterrupted })
	if !errors.Is(err, netlink.ErrDumpInterrupted) || calls != dumpAttempts {
		t.Fatalf("always interrupted: %v after %d calls", err, calls)
	}
	other := errors.New("boom")
	calls = 0
	if _, err := dump(func() ([]int, error) { calls++; return nil, other }); err != other || calls != 1 {
		t.Fatalf("other error: %v after %d calls", err, calls)
	}
}
