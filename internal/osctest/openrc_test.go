package osctest

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// parseOpenRC reads the "export NAME=VALUE" lines of an openrc file without
// a shell. VALUE is one shell word made of unquoted characters, backslash
// escapes, single-quoted parts (literal) and double-quoted parts (where a
// backslash escapes $ ` " \ and newline), so the file's quoting of a
// single quote (close, backslash-quote, reopen) works. Comments and blank
// lines are skipped; any other line is an error, as is an expansion ($, `)
// outside single quotes, which a shell would evaluate.
func parseOpenRC(data string) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rest, ok := strings.CutPrefix(line, "export ")
		if !ok {
			return nil, fmt.Errorf("line %d: not an export: %q", i+1, line)
		}
		name, word, ok := strings.Cut(strings.TrimLeft(rest, " "), "=")
		if !ok || !validName(name) {
			return nil, fmt.Errorf("line %d: bad assignment: %q", i+1, line)
		}
		val, err := shellWord(word)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", i+1, err)
		}
		out[name] = val
	}
	return out, nil
}

func validName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// shellWord unquotes one shell word; trailing blanks and a trailing
// comment are allowed.
func shellWord(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return "", fmt.Errorf("unterminated ' in %q", s)
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch {
				case s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0:
					i++
					b.WriteByte(s[i])
				case s[i] == '$' || s[i] == '`':
					return "", fmt.Errorf("shell expansion in %q", s)
				default:
					b.WriteByte(s[i])
				}
			}
			if i >= len(s) {
				return "", fmt.Errorf("unterminated \" in %q", s)
			}
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case ' ', '\t':
			if rest := strings.TrimLeft(s[i:], " \t"); rest != "" && rest[0] != '#' {
				return "", fmt.Errorf("more than one word in %q", s)
			}
			return b.String(), nil
		case '$', '`', ';', '&', '|', '<', '>', '(', ')':
			return "", fmt.Errorf("unsupported shell syntax in %q", s)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// openRCEnv returns this process's environment without any OS_* variable
// (and with HOME pointing at home, so no clouds.yaml or cache of the
// developer's leaks in), plus the exports of the openrc file at path.
func openRCEnv(t *testing.T, path, home string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vars, err := parseOpenRC(string(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, k := range []string{"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME"} {
		if vars[k] == "" {
			t.Fatalf("%s: no %s in\n%s", path, k, data)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "OS_") && k != "HOME" && k != "XDG_CONFIG_HOME" && k != "XDG_CACHE_HOME" {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+home)
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

func TestParseOpenRC(t *testing.T) {
	got, err := parseOpenRC(`# comment
export OS_AUTH_URL=http://127.0.0.1:9696/identity/v3

export OS_USERNAME=admin
export OS_PASSWORD='it'\''s a "secret" $HOME'
export OS_PROJECT_NAME="my \"proj\" \$x"
export OS_REGION_NAME=Region\ One  # trailing comment
export OS_EMPTY=''
`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"OS_AUTH_URL":     "http://127.0.0.1:9696/identity/v3",
		"OS_USERNAME":     "admin",
		"OS_PASSWORD":     `it's a "secret" $HOME`,
		"OS_PROJECT_NAME": `my "proj" $x`,
		"OS_REGION_NAME":  "Region One",
		"OS_EMPTY":        "",
	}
	if len(got) != len(want) {
		t.Errorf("got %d variables %v, want %d", len(got), got, len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []string{"export X='open", `export X="open`, "export X=$(id)", "export X=a b", "X=1", "export 1X=1", `export X="$HOME"`} {
		if _, err := parseOpenRC(bad); err == nil {
			t.Errorf("parseOpenRC(%q) accepted", bad)
		}
	}
}
