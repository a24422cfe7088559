// Package freeport picks loopback TCP ports for processes started later
// (etcd members, servers under test).
//
// A port learnt by listening on :0 comes from the kernel's ephemeral
// range, the same range the kernel draws from for every outgoing
// connection. Between closing the probe listener and the child binding
// the port, any connect() on the machine may take it — CI saw etcd fail
// with "address already in use" that way. Ports just below the ephemeral
// range are never handed out implicitly, so only another explicit picker
// could collide, and picking at random makes that unlikely.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// span is how many ports below the ephemeral range are candidates.
const span = 12000

// Loopback returns a TCP port that is free on 127.0.0.1 now and outside
// the kernel's ephemeral range.
func Loopback() (int, error) {
	low := ephemeralLow()
	lo := max(low-span, 1024)
	for range 64 {
		port := lo + rand.IntN(low-lo)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free loopback port in %d-%d", lo, low-1)
}

// ephemeralLow reads the first port of the kernel's ephemeral range
// (32768 when it cannot be read, the Linux default).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 1024+100 {
		return 32768
	}
	return n
}
