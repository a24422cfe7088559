package linklocal

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestPairsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r1, _ := a.Get("router-1")
	r2, _ := a.Get("router-2")
	if r1.String() != "169.254.64.0/31" || r2.String() != "169.254.64.2/31" {
		t.Fatalf("pairs %s %s", r1, r2)
	}
	if again, _ := a.Get("router-1"); again != r1 {
		t.Fatalf("second Get gave %s, want %s", again, r1)
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Get("router-2"); got != r2 {
		t.Fatalf("after reopen router-2 has %s, want %s", got, r2)
	}
	if err := b.Release("router-2"); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, FileName))
	if string(raw) != "router-1,169.254.64.0/31\n" {
		t.Fatalf("file after release:\n%s", raw)
	}
}

func TestBadLinesDroppedAndRemembered(t *testing.T) {
	dir := t.TempDir()
	content := "r1,169.254.64.4/31\ngarbage\nr2,10.0.0.0/31\nr3,169.254.64.4/31\nr4,169.254.64.5/31\n"
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.byKey) != 1 {
		t.Fatalf("kept %v, want only r1", a.byKey)
	}
	if got, _ := a.Get("r1"); got != netip.MustParsePrefix("169.254.64.4/31") {
		t.Fatalf("r1 got %s", got)
	}
}

func TestExhaustionReclaimsRemembered(t *testing.T) {
	a := newAllocator(netip.MustParsePrefix("169.254.64.0/30")) // two pairs
	a.take("old", 0)
	a.remembered["old"] = true
	if _, err := a.Get("x"); err != nil {
		t.Fatal(err)
	}
	got, err := a.Get("y")
	if err != nil || got.String() != "169.254.64.0/31" {
		t.Fatalf("y got %s %v: want the remembered pair reclaimed", got, err)
	}
	if _, err := a.Get("z"); err != ErrExhausted {
		t.Fatalf("z: %v, want ErrExhausted", err)
	}
}
