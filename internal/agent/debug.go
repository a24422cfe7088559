package agent

import (
	"net/http"
	_ "net/http/pprof" // profiles for the debug listener below
	"os"
)

// startDebugListener serves Go profiles (/debug/pprof/) when the
// environment sets NEUTRINO_AGENT_PPROF (e.g. "127.0.0.1:6060"): a
// debugging aid for operators and benchmarks. The listener lives in the
// agent's network namespace (the host's).
func (a *Agent) startDebugListener() {
	addr := os.Getenv("NEUTRINO_AGENT_PPROF")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			a.log.Warn("debug listener stopped", "addr", addr, "err", err)
		}
	}()
}
