package sandbox

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// relayHosts serves every host's socket (HostSocket), relaying each
// connection to the server's socket, until ctx ends. Every 100ms it
// rereads the partitioned hosts: their connections are dropped and new
// ones are closed at once (the agent sees the server unreachable).
func relayHosts(ctx context.Context, st *State, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Join(st.Dir, hostsDir), 0o700); err != nil {
		return err
	}
	var rs []*relay
	for _, h := range st.Hosts() {
		path := st.HostSocket(h.Name)
		os.Remove(path)
		ln, err := net.Listen("unix", path)
		if err != nil {
			for _, r := range rs {
				r.ln.Close()
			}
			return err
		}
		r := &relay{host: h.Name, ln: ln, target: st.Socket(), conns: map[net.Conn]bool{}}
		rs = append(rs, r)
		go r.serve(log)
	}
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				for _, r := range rs {
					r.ln.Close()
					r.setCut(true)
				}
				return
			case <-t.C:
			}
			cut := readPartitioned(st.Dir)
			for _, r := range rs {
				r.setCut(slices.Contains(cut, r.host))
			}
		}
	}()
	return nil
}

type relay struct {
	host   string
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func (r *relay) setCut(cut bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut = cut
	if cut {
		for c := range r.conns {
			c.Close()
		}
	}
}

func (r *relay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cut {
		return false
	}
	for _, c := range cs {
		r.conns[c] = true
	}
	return true
}

func (r *relay) forget(cs ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		delete(r.conns, c)
		c.Close()
	}
}

func (r *relay) serve(log *slog.Logger) {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			up, err := net.Dial("unix", r.target)
			if err != nil {
				log.Warn("relay: server unreachable", "host", r.host, "err", err)
				c.Close()
				return
			}
			if !r.track(c, up) {
				c.Close()
				up.Close()
				return
			}
			done := make(chan struct{}, 2)
			go func() { io.Copy(up, c); done <- struct{}{} }()
			go func() { io.Copy(c, up); done <- struct{}{} }()
			<-done
			r.forget(c, up)
		}()
	}
}
