package sandbox

import (
	"sort"
	"strings"
)

// HostNamespaces is what `ip netns` shows on a simulated host: the
// namespaces its agent made (qrouter-, snat-, fip-, qdhcp- ...), named
// without the agent's suffix, sorted. An error listing /run/netns is an
// empty list (nothing to show).
func (s *State) HostNamespaces(host string) []string {
	all, _ := listNS()
	suffix := AgentSuffix(s.Prefix, host)
	var out []string
	for _, n := range all {
		if name, ok := strings.CutSuffix(n, suffix); ok && name != "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// HostNS is the full name of a namespace an agent of host makes for
// name (e.g. "qrouter-<id>"): name plus the agent's suffix.
func (s *State) HostNS(host, name string) string { return name + AgentSuffix(s.Prefix, host) }
