package agent

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/config"
)

// docBlocks returns the ```ini blocks of a Markdown file whose first
// line is a comment naming the file ("# /etc/neutrino/agent.ini on
// compute1"), by that line.
func docBlocks(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	var cur *strings.Builder
	var name string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && line == "```ini":
			cur, name = &strings.Builder{}, ""
		case cur != nil && line == "```":
			if name != "" {
				out[name] = cur.String()
			}
			cur = nil
		case cur != nil:
			if name == "" && cur.Len() == 0 {
				name = strings.TrimPrefix(line, "# ")
			}
			cur.WriteString(line + "\n")
		}
	}
	return out
}

// TestDeployDocConfigs: every configuration file docs/deploy.md tells
// the operator to write loads with the reader that will read it, so an
// option name in the doc cannot drift from the code.
func TestDeployDocConfigs(t *testing.T) {
	blocks := docBlocks(t, filepath.Join("..", "..", "docs", "deploy.md"))
	var servers, agents int
	for name, body := range blocks {
		path := filepath.Join(t.TempDir(), "conf.ini")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(name, "/etc/neutrino/neutrino.conf"):
			servers++
			c, err := config.LoadFiles([]string{path})
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if len(c.Ignored) > 0 || len(c.EtcdEndpoints) != 3 || c.MetricsBind == "" || c.PublicURL == "" {
				t.Errorf("%s: ignored %v, etcd %v, metrics %q, public %q", name, c.Ignored, c.EtcdEndpoints, c.MetricsBind, c.PublicURL)
			}
		case strings.HasPrefix(name, "/etc/neutrino/agent.ini"):
			agents++
			c, err := LoadConfigFiles([]string{path})
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if len(c.Ignored) > 0 || c.MetricsBind == "" || c.Auth["auth_url"] == "" || !strings.HasSuffix(name, " on "+c.Host) {
				t.Errorf("%s: ignored %v, host %q, metrics %q, auth %v", name, c.Ignored, c.Host, c.MetricsBind, c.Auth)
			}
		default:
			t.Errorf("ini block %q names no file this test knows", name)
		}
	}
	if servers == 0 || agents < 2 {
		t.Errorf("found %d server and %d agent configurations in docs/deploy.md", servers, agents)
	}
}
