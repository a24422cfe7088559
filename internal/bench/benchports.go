package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// sequentialCreates times n port creates one after the other and
// returns the ports' device ids.
func (b *bencher) sequentialCreates(ctx context.Context, portNet string, n int, op string) ([]string, Result, error) {
	var devices []string
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for range n {
		dev := b.device()
		t0 := time.Now()
		_, err := b.call(ctx, "POST", "/v2.0/ports", b.portBody(portNet, dev), false, 201)
		lat = append(lat, time.Since(t0))
		if err != nil {
			return nil, Result{}, err
		}
		devices = append(devices, dev)
	}
	return devices, result(op, lat, time.Since(start)), nil
}

func (b *bencher) device() string { return fmt.Sprintf("bench-%08x-%08d", b.tag, b.seq.Add(1)) }

func (b *bencher) portBody(netID, dev string) []byte {
	return fmt.Appendf(nil, `{"port":{"network_id":%q,"device_id":%q,"name":"bench-port"}}`, netID, dev)
}

// concurrentCreates creates n ports with Concurrency clients and returns
// their device ids, each create's latency and the wall time.
func (b *bencher) concurrentCreates(ctx context.Context, netID string, n int) ([]string, []time.Duration, time.Duration, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	devs := make([]string, 0, n)
	lat := make([]time.Duration, 0, n)
	var wg sync.WaitGroup
	start := time.Now()
	for range b.o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var myLat []time.Duration
			var myDevs []string
			for next.Add(1) <= int64(n) {
				dev := b.device()
				t0 := time.Now()
				_, err := b.call(ctx, "POST", "/v2.0/ports", b.portBody(netID, dev), false, 201)
				d := time.Since(t0)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
				myLat = append(myLat, d)
				myDevs = append(myDevs, dev)
			}
			mu.Lock()
			lat = append(lat, myLat...)
			devs = append(devs, myDevs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	return devs, lat, wall, firstErr
}

// populate adds n ports with bulk creates from a few clients.
func (b *bencher) populate(ctx context.Context, netID string, n int) ([]string, error) {
	type chunk struct{ devs []string }
	var chunks []chunk
	for left := n; left > 0; left -= b.o.Chunk {
		k := min(left, b.o.Chunk)
		c := chunk{}
		for range k {
			c.devs = append(c.devs, b.device())
		}
		chunks = append(chunks, c)
	}
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range min(4, b.o.Concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(chunks) {
					return
				}
				if err := b.bulkCreate(ctx, netID, chunks[i].devs); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("populate: %w", err)
					}
					mu.Unlock()
					next.Store(int64(len(chunks)))
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	var devs []string
	for _, c := range chunks {
		devs = append(devs, c.devs...)
	}
	return devs, nil
}

// bulkCreate creates one port per device id with bulk POSTs. A refused
// bulk changes nothing, so one the server cannot take in one transaction
// (an external etcd with a small --max-txn-ops answers 500) is retried
// in halves.
func (b *bencher) bulkCreate(ctx context.Context, netID string, devs []string) error {
	var buf bytes.Buffer
	buf.WriteString(`{"ports":[`)
	for j, dev := range devs {
		if j > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"network_id":%q,"device_id":%q,"name":"bench-port"}`, netID, dev)
	}
	buf.WriteString(`]}`)
	raw, err := b.call(ctx, "POST", "/v2.0/ports", buf.Bytes(), false, 201)
	if err != nil && len(devs) > 1 && bytes.Contains(raw, []byte("InternalServerError")) {
		h := len(devs) / 2
		if err := b.bulkCreate(ctx, netID, devs[:h]); err != nil {
			return err
		}
		return b.bulkCreate(ctx, netID, devs[h:])
	}
	return err
}

// countPorts lists all ports once, checks the reply is valid JSON and
// returns how many there are.
func (b *bencher) countPorts(ctx context.Context) (int, error) {
	raw, err := b.call(ctx, "GET", "/v2.0/ports", nil, false, 200)
	if err != nil {
		return 0, err
	}
	var r struct {
		Ports []json.RawMessage `json:"ports"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return 0, fmt.Errorf("list ports: invalid JSON: %w", err)
	}
	return len(r.Ports), nil
}

func (b *bencher) checkFiltered(ctx context.Context, dev string) error {
	raw, err := b.call(ctx, "GET", "/v2.0/ports?device_id="+dev, nil, false, 200)
	if err != nil {
		return err
	}
	var r struct {
		Ports []struct {
			DeviceID string `json:"device_id"`
		} `json:"ports"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("filtered list: invalid JSON: %w", err)
	}
	if len(r.Ports) != 1 || r.Ports[0].DeviceID != dev {
		return fmt.Errorf("filtered list by device_id %s: %d ports, want 1", dev, len(r.Ports))
	}
	return nil
}
