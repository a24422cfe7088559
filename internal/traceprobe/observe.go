package traceprobe

import (
	"time"

	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// Place is an interface to watch: where a packet can end up (incoming
// frames), or with Outgoing the source, to see the probe leave.
type Place struct {
	Name, NS, Dev string
	Outgoing      bool
}

// Probe watches every place, sends p from ns and reports the places
// where the marked packet came in within wait.
func Probe(ns string, p Packet, places []Place, wait time.Duration) ([]Arrival, error) {
	type capt struct {
		pl Place
		c  *probe.Capture
	}
	var cs []capt
	defer func() {
		for _, c := range cs {
			c.c.Stop()
		}
	}()
	for _, pl := range places {
		c, err := probe.StartCapture(pl.NS, pl.Dev)
		if err != nil {
			return nil, err
		}
		cs = append(cs, capt{pl, c})
	}
	if err := Send(ns, p); err != nil {
		return nil, err
	}
	time.Sleep(wait)
	var out []Arrival
	for _, c := range cs {
		for _, f := range c.c.Stop() {
			if f.Outgoing != c.pl.Outgoing {
				continue
			}
			if src, dst, ok := parse(f.Data, p); ok {
				out = append(out, Arrival{Place: c.pl.Name, Src: src, Dst: dst})
				break
			}
		}
	}
	return out, nil
}
