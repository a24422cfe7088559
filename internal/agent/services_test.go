package agent

import (
	"fmt"
	"net"
	"os"
	"slices"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/plan"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l3"
	"github.com/neutrino-net/neutrino/internal/netns"
)

// The metadata listeners a run of incremental syncs leaves are those a
// full sync of the same facts serves: new routers served, routers gone
// stopped, an isolated network's listener likewise.
func TestServicesIncrementalEqualsFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	ns := make([]string, 4)
	for i := range ns {
		ns[i] = fmt.Sprintf("svc%d-%d", i, os.Getpid())
		if err := netns.Create(ns[i]); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { netns.Delete(ns[i]) })
	}
	a := New(&Config{Host: "h1", EnableMetadataProxy: true, MetadataURL: "http://127.0.0.1:1"}, nil)
	inc := a.services
	t.Cleanup(inc.stopAll)
	snap := hostmodel.New().Snapshot("h1")
	none := func(string) bool { return false }
	steps := []struct {
		facts plan.Facts
		want  []string // what a full sync serves
	}{
		{plan.Facts{RouterMetadata: map[string][]string{ns[0]: {"n0"}, ns[1]: {"n1"}}}, []string{ns[0], ns[1]}},
		{plan.Facts{RouterMetadata: map[string][]string{ns[0]: {"n0"}, ns[2]: {"n2", "n2"}}, IsolatedMetadata: map[string]string{ns[3]: "n3"}},
			[]string{ns[0], ns[2], ns[3]}},
		{plan.Facts{RouterMetadata: map[string][]string{ns[0]: {"n0", "n4"}, ns[2]: {}}, IsolatedMetadata: map[string]string{}}, []string{ns[0]}},
		{plan.Facts{RouterMetadata: map[string][]string{ns[1]: {"n1"}}, IsolatedMetadata: map[string]string{ns[3]: "n3"}}, []string{ns[1], ns[3]}},
	}
	for i, st := range steps {
		inc.sync(snap, st.facts, none, i == 0)
		slices.Sort(st.want)
		if got := inc.meta.Keys(); !slices.Equal(got, st.want) {
			t.Fatalf("step %d: incremental syncs serve %v, a full sync %v", i, got, st.want)
		}
	}
	// A namespace made anew (the apply touched it) is served again: the
	// listener of the deleted one went with it.
	if err := netns.Delete(ns[1]); err != nil {
		t.Fatal(err)
	}
	if err := netns.Create(ns[1]); err != nil {
		t.Fatal(err)
	}
	bound := func() bool { // the port of the router's listener is taken in ns[1]
		h, err := netns.Open(ns[1])
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		err = netns.RunIn(h, func() error {
			l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", l3.MetadataPort))
			if err == nil {
				l.Close()
			}
			return err
		})
		return err != nil
	}
	inc.sync(snap, steps[3].facts, none, false)
	if bound() {
		t.Fatal("the new namespace is served though the apply did not touch it")
	}
	inc.sync(snap, steps[3].facts, func(name string) bool { return name == ns[1] }, false)
	if !bound() {
		t.Fatal("the namespace made anew is not served")
	}
}
