package bench

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWantBacklog(t *testing.T) {
	for _, c := range []struct{ set, routers, cur, want int }{
		{0, 1000, 1000, 2004},  // auto: twice the external bridge's ports
		{0, 4, 1000, 1000},     // never lowered
		{0, 1000, 5000, 5000},  // an operator's larger value stays
		{-1, 1000, 1000, 1000}, // leave the host alone
		{3000, 1000, 1000, 3000},
		{500, 1000, 1000, 500}, // an explicit value, even lower (for comparisons)
	} {
		if got := wantBacklog(c.set, c.routers, c.cur); got != c.want {
			t.Errorf("wantBacklog(%d, %d, %d) = %d, want %d", c.set, c.routers, c.cur, got, c.want)
		}
	}
}

// TestRaiseBacklogRestores runs against a file standing in for the
// machine-wide key (changing the real one would affect other work).
func TestRaiseBacklogRestores(t *testing.T) {
	f := filepath.Join(t.TempDir(), "netdev_max_backlog")
	if err := os.WriteFile(f, []byte("1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(k string) { backlogKey = k }(backlogKey)
	backlogKey = f
	read := func() string { b, _ := os.ReadFile(f); return string(b) }
	old, now, restore, err := raiseBacklog(0, 1000)
	if err != nil || old != 1000 || now != 2004 || read() != "2004" {
		t.Fatalf("raiseBacklog = %d, %d, %v; file %q", old, now, err, read())
	}
	if err := restore(); err != nil || read() != "1000" {
		t.Fatalf("restore: %v; file %q", err, read())
	}
	if _, now, restore, err = raiseBacklog(-1, 1000); err != nil || now != 1000 || restore() != nil || read() != "1000" {
		t.Fatalf("raiseBacklog(-1) = %d, %v; file %q", now, err, read())
	}
}
