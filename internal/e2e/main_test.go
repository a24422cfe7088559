// Package e2e_test holds the end-to-end tests: each test runs its own
// sandbox (internal/testbed) with real agents in host namespaces, boots
// fake instances that get their addresses by real DHCP, and checks the
// data plane with real packets and kernel state read back by netlink.
// They need root and skip without it.
package e2e_test

import (
	"testing"

	"github.com/neutrino-net/neutrino/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }
