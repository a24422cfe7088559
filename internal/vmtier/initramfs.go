package vmtier

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/cavaliergopher/cpio"
)

// Archive is the content of an initramfs: directories, files (from the
// host or inline) and symlinks, by absolute path inside the VM. Parent
// directories are added as needed.
type Archive struct {
	dirs     map[string]bool
	files    map[string]fileEntry
	symlinks map[string]string
}

type fileEntry struct {
	hostPath string // read from here, or
	data     []byte // this
	mode     os.FileMode
}

// NewArchive returns an empty archive.
func NewArchive() *Archive {
	return &Archive{dirs: map[string]bool{}, files: map[string]fileEntry{}, symlinks: map[string]string{}}
}

// Dir adds a directory.
func (a *Archive) Dir(p string) {
	for p = path.Clean(p); p != "/" && !a.dirs[p]; p = path.Dir(p) {
		a.dirs[p] = true
	}
}

// File adds a host file at p.
func (a *Archive) File(p, hostPath string, mode os.FileMode) {
	a.Dir(path.Dir(p))
	a.files[path.Clean(p)] = fileEntry{hostPath: hostPath, mode: mode}
}

// Data adds a file with the given content at p.
func (a *Archive) Data(p string, data []byte, mode os.FileMode) {
	a.Dir(path.Dir(p))
	a.files[path.Clean(p)] = fileEntry{data: data, mode: mode}
}

// Symlink adds a symlink at p pointing to target.
func (a *Archive) Symlink(p, target string) {
	a.Dir(path.Dir(p))
	a.symlinks[path.Clean(p)] = target
}

// Names lists every entry (directories end in "/", symlinks show their
// target), sorted: what the archive holds, for tests and logs.
func (a *Archive) Names() []string {
	var out []string
	for d := range a.dirs {
		out = append(out, d+"/")
	}
	for f := range a.files {
		out = append(out, f)
	}
	for l, t := range a.symlinks {
		out = append(out, l+" -> "+t)
	}
	sort.Strings(out)
	return out
}

// WriteGzip writes the archive as a gzip-compressed newc cpio (the
// format the kernel unpacks as initramfs) to file.
func (a *Archive) WriteGzip(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	// BestSpeed: the VM decompresses it under emulation either way, and
	// the level barely changes that; compressing harder costs host time.
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if err := a.Write(zw); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// Write writes the archive as newc cpio: directories first (parents
// before children), then files and symlinks.
func (a *Archive) Write(w io.Writer) error {
	cw := cpio.NewWriter(w)
	dirs := make([]string, 0, len(a.dirs))
	for d := range a.dirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs) // a parent sorts before its children
	for _, d := range dirs {
		if err := cw.WriteHeader(&cpio.Header{Name: strings.TrimPrefix(d, "/"), Mode: cpio.TypeDir | 0o755, Links: 2}); err != nil {
			return err
		}
	}
	for _, p := range sortedKeys(a.files) {
		if err := a.writeFile(cw, p, a.files[p]); err != nil {
			return err
		}
	}
	for _, p := range sortedKeys(a.symlinks) {
		t := a.symlinks[p]
		if err := cw.WriteHeader(&cpio.Header{Name: strings.TrimPrefix(p, "/"), Mode: cpio.TypeSymlink | 0o777, Links: 1, Size: int64(len(t))}); err != nil {
			return err
		}
		if _, err := cw.Write([]byte(t)); err != nil {
			return err
		}
	}
	return cw.Close()
}

func (a *Archive) writeFile(cw *cpio.Writer, p string, e fileEntry) error {
	data := e.data
	if e.hostPath != "" {
		var err error
		if data, err = os.ReadFile(e.hostPath); err != nil {
			return fmt.Errorf("initramfs %s: %w", p, err)
		}
	}
	hdr := &cpio.Header{Name: strings.TrimPrefix(p, "/"), Mode: cpio.TypeReg | cpio.FileMode(e.mode.Perm()), Links: 1, Size: int64(len(data))}
	if err := cw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := cw.Write(data)
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
