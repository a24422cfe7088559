package bench

import (
	"bytes"
	"testing"
)

// TestDVRReportTable renders a made-up report whole: ratios to the VXLAN
// path and to each DVR path's legacy counterpart, per-host and every-host
// rows, the floating IP ratio, and failures shown where they happened.
func TestDVRReportTable(t *testing.T) {
	r := &DVRReport{
		Throughput: DVRThroughput{Seconds: 5, Rounds: 3, Paths: []PathRate{
			{Name: PathVXLAN, What: "v", Gbps: 10, Runs: []float64{9, 10, 11.5}},
			{Name: PathLegacyEW, What: "le", Gbps: 4},
			{Name: PathLegacyFIP, What: "lf", Error: "no route"},
			{Name: PathDVREW, What: "de", Legacy: PathLegacyEW, Gbps: 8},
			{Name: PathDVRFIP, What: "df", Legacy: PathLegacyFIP, Gbps: 5},
		}},
		InterfaceAdd: []HostDist{
			{Host: "compute1", Dist: Dist{N: 2, MinMs: 10, P50Ms: 10, P99Ms: 12, MaxMs: 12}},
			{Host: "compute2", Dist: Dist{N: 2, MinMs: 11, P50Ms: 11, P99Ms: 13, MaxMs: 13}},
			{Host: "all", Dist: Dist{N: 2, MinMs: 11, P50Ms: 11, P99Ms: 13, MaxMs: 13}},
		},
		InterfaceAddARP: []HostDist{
			{Host: "compute1", Dist: Dist{N: 2, MinMs: 5, P50Ms: 5, P99Ms: 6, MaxMs: 6}},
			{Host: "all", Dist: Dist{N: 2, MinMs: 5, P50Ms: 5, P99Ms: 7, MaxMs: 7}},
		},
		FIP: []FIPScale{
			{Existing: 1, Dist: Dist{N: 1, MinMs: 20, P50Ms: 20, P99Ms: 20, MaxMs: 20}, Ratio: 1},
			{Existing: 5000, Dist: Dist{N: 1, MinMs: 30, P50Ms: 30, P99Ms: 30, MaxMs: 30}, Ratio: 1.5},
		},
	}
	r.Throughput.ratios()
	r.ratios()
	var b bytes.Buffer
	r.WriteTable(&b)
	want := `throughput (iperf3 TCP, 5s each, median of 3 interleaved rounds):
  path          Gbit/s   / VXLAN   / legacy  what
  VXLAN          10.00      1.00          -  v
                       runs [9.00 10.00 11.50]
  legacy E-W      4.00      0.40          -  le
  legacy FIP         -         -          -  FAILED: no route
  DVR E-W         8.00      0.80       2.00  de
  DVR FIP         5.00      0.50          -  df
  (/ legacy: DVR E-W over legacy E-W, DVR FIP over legacy FIP)

measure                                                      n   min ms   p50 ms   p99 ms   max ms
interface add -> first routed packet, compute1               2     10.0     10.0     12.0     12.0
interface add -> first routed packet, compute2               2     11.0     11.0     13.0     13.0
interface add -> first routed packet, every host             2     11.0     11.0     13.0     13.0
  same, gateway ARP-probed first, compute1                   2      5.0      5.0      6.0      6.0
  same, gateway ARP-probed first, every host                 2      5.0      5.0      7.0      7.0
FIP associate -> first packet (1 FIPs on compute1)           1     20.0     20.0     20.0     20.0
FIP associate -> first packet (5000 FIPs on compute1)        1     30.0     30.0     30.0     30.0
FIP associate p50 ratios: 5000:1 = 1.50
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	if r.FIPRatio != 1.5 {
		t.Errorf("FIPRatio %v", r.FIPRatio)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
