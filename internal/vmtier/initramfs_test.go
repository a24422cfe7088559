package vmtier

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
)

// TestArchiveRoundTrip writes an archive and reads it back: parents come
// before children, file modes, contents and symlink targets survive.
func TestArchiveRoundTrip(t *testing.T) {
	a := NewArchive()
	a.Data("/etc/hosts", []byte("127.0.0.1 localhost\n"), 0o644)
	a.Data("/init", []byte("#!"), 0o755)
	a.Symlink("/var/run", "../run")
	a.Dir("/tmp")
	var buf bytes.Buffer
	if err := a.Write(&buf); err != nil {
		t.Fatal(err)
	}
	r := cpio.NewReader(&buf)
	var got []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r)
		if h.Linkname != "" { // the reader takes a symlink's body as its target
			body = []byte(h.Linkname)
		}
		got = append(got, fmt.Sprintf("%s %o %q", h.Name, h.Mode, body))
	}
	want := `etc 40755 ""
tmp 40755 ""
var 40755 ""
etc/hosts 100644 "127.0.0.1 localhost\n"
init 100755 "#!"
var/run 120777 "../run"`
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("archive:\n%s\nwant:\n%s", g, want)
	}
}
