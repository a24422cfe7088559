package probe

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// LogLine is one slog text line ("time=... level=INFO msg=... k=v").
type LogLine struct {
	Raw    string
	Time   time.Time
	Msg    string
	Fields map[string]string
}

// Int returns an integer field (ok false if absent or not a number).
func (l LogLine) Int(key string) (int, bool) {
	n, err := strconv.Atoi(l.Fields[key])
	return n, err == nil
}

// ParseLogLine parses a log/slog TextHandler line; values may be quoted.
func ParseLogLine(s string) (LogLine, bool) {
	l := LogLine{Raw: s, Fields: map[string]string{}}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimLeft(s, " ") {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || strings.ContainsRune(s[:eq], ' ') {
			return l, false
		}
		key, rest := s[:eq], s[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			for end < len(rest) && rest[end] != '"' {
				if rest[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(rest) {
				return l, false
			}
			v, err := strconv.Unquote(rest[:end+1])
			if err != nil {
				return l, false
			}
			val, s = v, rest[end+1:]
		} else {
			sp := strings.IndexByte(rest, ' ')
			if sp < 0 {
				sp = len(rest)
			}
			val, s = rest[:sp], rest[sp:]
		}
		l.Fields[key] = val
	}
	l.Msg = l.Fields["msg"]
	if t, err := time.Parse(time.RFC3339Nano, l.Fields["time"]); err == nil {
		l.Time = t
	}
	return l, l.Msg != ""
}

// StartMarker is what the sandbox writes into a process's log before
// each start ("=== <time> start agent-compute1: <argv>").
func StartMarker(proc string) string { return " start " + proc + ":" }

// AgentLogSinceStart returns the part of an agent log (path) written
// since the last start of host's agent.
func AgentLogSinceStart(path, host string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := string(b)
	marker := StartMarker("agent-" + host)
	for i := len(s); i > 0; {
		j := strings.LastIndex(s[:i], "=== ")
		if j < 0 {
			break
		}
		if (j == 0 || s[j-1] == '\n') && strings.Contains(firstLine(s[j:]), marker) {
			return s[j:], nil
		}
		i = j
	}
	return "", fmt.Errorf("%s: no start of agent-%s", path, host)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// ErrNotYet means a log line is not there (yet).
var ErrNotYet = errors.New("not logged yet")

// FindLog returns the first line with message msg in the log of host's
// agent since its last start.
func FindLog(path, host, msg string) (LogLine, error) {
	s, err := AgentLogSinceStart(path, host)
	if err != nil {
		return LogLine{}, err
	}
	for _, raw := range strings.Split(s, "\n") {
		if !strings.Contains(raw, msg) {
			continue
		}
		if l, ok := ParseLogLine(raw); ok && l.Msg == msg {
			return l, nil
		}
	}
	return LogLine{}, fmt.Errorf("agent of %s: %q %w", host, msg, ErrNotYet)
}

// InitialApply returns the "initial apply" line the agent of host logged
// since its last start (fields changes, rev, ok).
func InitialApply(path, host string) (LogLine, error) {
	return FindLog(path, host, "initial apply")
}
