package server

import (
	"net/http"
	"time"
)

// newHTTPServer bounds how long a client may hold a connection without
// making progress: the request (headers and body) must arrive within
// timeout, and an idle keep-alive connection is closed after timeout.
// timeout 0 = no limits (as neutron's client_socket_timeout = 0).
//
// ReadTimeout does not cut the agents' long watch streams: net/http lifts
// the read deadline once the request body has been read (when it starts
// its background read to notice a client going away), so only the
// request itself is bounded. No WriteTimeout, for the same streams.
// TestWatchStreamOutlivesSocketTimeout holds this.
func newHTTPServer(h http.Handler, timeout time.Duration) *http.Server {
	header := 30 * time.Second
	if timeout > 0 && timeout < header {
		header = timeout
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: header, ReadTimeout: timeout, IdleTimeout: timeout}
}
