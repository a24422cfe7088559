package testbed

import "github.com/neutrino-net/neutrino/internal/testbed/probe"

// LogLine is one parsed agent or server log line.
type LogLine = probe.LogLine

// AgentLogSinceStart returns the part of an agent log written since the
// last start of host's agent.
func AgentLogSinceStart(path, host string) (string, error) {
	return probe.AgentLogSinceStart(path, host)
}

// InitialApply returns the "initial apply" line of host's agent since
// its last start.
func InitialApply(path, host string) (LogLine, error) { return probe.InitialApply(path, host) }
