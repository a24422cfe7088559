package cli

import (
	"bytes"
	"strings"
	"testing"
)

// Bad arguments are refused before logging in; without credentials the
// error says how to get them.
func TestTraceArguments(t *testing.T) {
	t.Setenv("OS_AUTH_URL", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "--to", "10.0.0.1"}, `"from" not set`},
		{[]string{"trace", "--from", "vm1", "--to", "nowhere"}, "--to"},
		{[]string{"trace", "--from", "vm1", "--to", "10.0.0.1", "--proto", "sctp"}, "--proto"},
		{[]string{"trace", "--from", "vm1", "--to", "10.0.0.1", "--src", "x"}, "--src"},
		{[]string{"trace", "--from", "vm1", "--to", "10.0.0.1"}, "OS_AUTH_URL"},
	} {
		root := NewRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(c.args)
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
	}
}
