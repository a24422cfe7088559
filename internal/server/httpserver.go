package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// newHTTPServer bounds how long a client may hold a connection without
// making progress. Go's ReadTimeout cannot be used: it would also end the
// agents' long watch streams (when it fires during a streamed answer, the
// server cancels the request). Instead each request with a body gets a
// read deadline of timeout for that body, lifted once the body has been
// read; idle keep-alive connections close after timeout. timeout 0 = no
// limits (as neutron's client_socket_timeout = 0).
func newHTTPServer(h http.Handler, timeout time.Duration) *http.Server {
	if timeout > 0 {
		h = bodyDeadline(h, timeout)
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: timeout}
}

func bodyDeadline(h http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			rc := http.NewResponseController(w)
			// Unix sockets and test recorders may not support deadlines;
			// then there is nothing to bound.
			if err := rc.SetReadDeadline(time.Now().Add(timeout)); err == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline when the body has been read to its
// end, so that a streamed answer is not cut by it. A body the handler
// does not finish keeps the deadline: the server discards the rest after
// the handler, bounded too.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.done {
		b.done = true
		if errors.Is(err, io.EOF) {
			b.rc.SetReadDeadline(time.Time{})
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			err = errors.New("client did not send the request body in time")
		}
	}
	return n, err
}
