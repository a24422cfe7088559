package sandbox

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Status is what `neutrino sandbox status` shows.
type Status struct {
	State     *State
	Nodes     []NodeStatus
	Procs     []ProcStatus
	Server    bool        // the API answers on the Unix socket
	Agents    []agentInfo // nil if unknown
	AgentsErr error       // why Agents is unknown
	Instances []Instance
}

// NodeStatus is one node namespace.
type NodeStatus struct {
	Name, Netns string
	Exists      bool
}

// ProcStatus is one recorded process.
type ProcStatus struct {
	ProcRecord
	Alive bool
}

// GetStatus inspects the sandbox.
func (s *State) GetStatus(ctx context.Context) (*Status, error) {
	st := &Status{State: s}
	for _, n := range s.Nodes() {
		ns := NodeNS(s.Prefix, n)
		st.Nodes = append(st.Nodes, NodeStatus{Name: n, Netns: ns, Exists: nsExists(ns)})
	}
	ps, err := readProcs(s.Dir)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		st.Procs = append(st.Procs, ProcStatus{ProcRecord: p, Alive: p.alive()})
	}
	if st.Instances, err = s.Instances(); err != nil {
		return nil, err
	}
	st.Server = s.serverReachable()
	if st.Server {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		c, err := s.adminClient(ctx)
		if err == nil {
			st.Agents, err = c.agents(ctx)
		}
		st.AgentsErr = err
	} else {
		st.AgentsErr = fmt.Errorf("server not reachable on %s", s.Socket())
	}
	return st, nil
}

// Write renders the status as tables.
func (st *Status) Write(w io.Writer) {
	s := st.State
	fmt.Fprintf(w, "sandbox %s in %s: %d network node(s), %d computes, API %s (unix %s), created %s\n",
		s.Prefix, s.Dir, max(s.NetworkNodes, 1), s.Computes, s.URL(), s.Socket(), s.Created.Local().Format(time.DateTime))
	fmt.Fprintf(w, "credentials: source %s/admin-openrc (or demo-openrc)\n", s.Dir)
	if len(s.Metrics) > 0 {
		// /metrics, /healthz and /readyz of each process, from the root
		// namespace.
		var ms []string
		for _, name := range slices.Sorted(maps.Keys(s.Metrics)) {
			ms = append(ms, name+" "+s.MetricsURL(name))
		}
		fmt.Fprintf(w, "metrics: %s\n", strings.Join(ms, ", "))

	}
	// Failure injection (docs/ha.md): hosts whose links are down (fail)
	// or whose agent is cut from the server (partition).
	for _, h := range s.Hosts() {
		if up, err := s.LinksUp(h.Name); err == nil && !up {
			fmt.Fprintf(w, "%s: failed (links down; `neutrino sandbox heal %s`)\n", h.Name, h.Name)
		}
	}
	for _, h := range s.Partitioned() {
		fmt.Fprintf(w, "%s: partitioned from the server (`neutrino sandbox heal %s`)\n", h, h)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tNAMESPACE\tEXISTS\tADDRESS")
	for _, n := range st.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.Netns, yesNo(n.Exists), nodeAddress(s, n.Name))
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "PROCESS\tPID\tALIVE")
	for _, p := range st.Procs {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", p.Name, p.PID, yesNo(p.Alive))
	}
	fmt.Fprintf(tw, "(api)\t-\t%s\n", yesNo(st.Server))
	tw.Flush()
	fmt.Fprintln(w)
	if st.AgentsErr != nil {
		fmt.Fprintf(w, "agents: unknown (%v)\n", st.AgentsErr)
	} else if len(st.Agents) == 0 {
		fmt.Fprintln(w, "no agents registered")
	} else {
		sort.Slice(st.Agents, func(i, j int) bool {
			a, b := st.Agents[i], st.Agents[j]
			return a.Host < b.Host || a.Host == b.Host && a.AgentType < b.AgentType
		})
		fmt.Fprintln(tw, "HOST\tAGENT TYPE\tALIVE\tADMIN UP")
		for _, a := range st.Agents {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Host, a.AgentType, yesNo(a.Alive), yesNo(a.AdminUp))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	if len(st.Instances) == 0 {
		fmt.Fprintln(w, "no instances (neutrino sandbox boot --network NET --host HOST NAME)")
		return
	}
	fmt.Fprintln(tw, "INSTANCE\tHOST\tIP\tPORT\tNAMESPACE")
	for _, in := range st.Instances {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", in.Name, in.Host, or(in.IP, "-"), in.PortID, in.Netns)
	}
	tw.Flush()
}

func nodeAddress(s *State, node string) string {
	switch node {
	case NodeFabric:
		return BridgeTunnel + " " + TunnelNet.String() + ", " + BridgeExternal + " " + ExternalNet.String()
	case NodeUpstream:
		return UpstreamExtIP.String() + ", " + UpstreamInIP.String()
	case NodeInternet:
		return InternetIP.String()
	}
	if h, ok := s.Host(node); ok {
		return h.TunnelIP.String() + " (" + h.Mode + ")"
	}
	return ""
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
