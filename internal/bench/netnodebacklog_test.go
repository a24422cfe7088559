package bench

import "testing"

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
