package testutil

import (
	"fmt"
	"testing"

	"github.com/neutrino-net/neutrino/internal/freeport"
)

func freeURL(t testing.TB) string {
	port, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}
