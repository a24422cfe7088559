package freeport

import (
	"net"
	"strconv"
	"testing"
)

// Picked ports are bindable and below the ephemeral range.
func TestLoopbackOutsideEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for range 20 {
		p, err := Loopback()
		if err != nil {
			t.Fatal(err)
		}
		if p >= low || p < 1024 {
			t.Fatalf("port %d outside [1024, %d)", p, low)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d not bindable: %v", p, err)
		}
		l.Close()
	}
}
