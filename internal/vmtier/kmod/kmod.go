// Package kmod reads a kernel's module index (modules.dep and
// modules.alias under /lib/modules/<release>) and answers the two
// questions the full-kernel test tier asks of it: which module files a
// set of modules needs, dependencies first (to pack them into the
// initramfs and load them in order), and which module a name the kernel
// asks for on demand ("nft-expr-ct", "rtnl-link-vlan") stands for.
//
// It is pure: parsing and lookups on text, no file system, no syscalls,
// so the VM's init and the host-side builder share it and it is tested
// without a kernel.
package kmod

import (
	"bufio"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Index is a parsed modules.dep and modules.alias.
type Index struct {
	deps    map[string][]string // module file -> the files it needs
	byName  map[string]string   // normalized module name -> file
	aliases []alias
	pre     map[string][]string // module name -> soft dependencies loaded before it
}

type alias struct{ pattern, module string }

// Parse reads modules.dep, modules.alias and modules.softdep text (the
// last two may be empty).
func Parse(dep, aliases, softdeps string) (*Index, error) {
	x := &Index{deps: map[string][]string{}, byName: map[string]string{}, pre: map[string][]string{}}
	sc := bufio.NewScanner(strings.NewReader(dep))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		file, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep line %d: no colon: %q", n, line)
		}
		x.deps[file] = strings.Fields(rest)
		x.byName[Name(file)] = file
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, line := range strings.Split(aliases, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "alias" {
			x.aliases = append(x.aliases, alias{f[1], Normalize(f[2])})
		}
	}
	x.parseSoftdeps(softdeps)
	return x, nil
}

// parseSoftdeps reads the "pre:" soft dependencies ("softdep libcrc32c
// pre: crc32c"): modules that must be loaded first although no symbol
// says so (libcrc32c fails with ENOENT without a crc32c implementation).
func (x *Index) parseSoftdeps(text string) {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "softdep" {
			continue
		}
		mod, pre := Normalize(f[1]), false
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				pre = true
			case "post:":
				pre = false
			default:
				if pre {
					x.pre[mod] = append(x.pre[mod], w)
				}
			}
		}
	}
}

// Name is the module name of a module file: its base name without the
// .ko (and compression) suffix, with dashes as underscores, as the
// kernel names it.
func Name(file string) string {
	base := path.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return Normalize(base)
}

// Normalize writes a module name the way the kernel does (dashes as
// underscores).
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// File returns the module file of a module name ("" if unknown).
func (x *Index) File(name string) string { return x.byName[Normalize(name)] }

// Resolve returns the module names a request stands for: the module
// itself if one has that name, else every module with a matching alias
// (modprobe's rules, wildcards included). Nil if nothing matches.
func (x *Index) Resolve(request string) []string {
	if f := x.File(request); f != "" {
		return []string{Name(f)}
	}
	seen := map[string]bool{}
	var out []string
	for _, a := range x.aliases {
		if ok, _ := path.Match(a.pattern, request); ok && !seen[a.module] && x.File(a.module) != "" {
			seen[a.module] = true
			out = append(out, a.module)
		}
	}
	return out
}

// Order returns the files that loading the named modules takes, each
// after everything it depends on (soft "pre:" dependencies included,
// those the index has), each once. An unknown name is an error.
func (x *Index) Order(names ...string) ([]string, error) {
	var out []string
	done := map[string]bool{}
	var visit func(file string, depth int)
	visit = func(file string, depth int) {
		if done[file] || depth > 64 {
			return
		}
		done[file] = true
		for _, soft := range x.pre[Name(file)] {
			for _, m := range x.Resolve(soft) {
				visit(x.File(m), depth+1)
			}
		}
		for _, d := range x.deps[file] {
			visit(d, depth+1)
		}
		out = append(out, file)
	}
	for _, n := range names {
		f := x.File(n)
		if f == "" {
			return nil, fmt.Errorf("no module %q in modules.dep", n)
		}
		visit(f, 0)
	}
	return out, nil
}

// Under returns the module files that are, or are under, the given
// paths (relative to /lib/modules/<release>, e.g. "kernel/net/netfilter"
// or "kernel/drivers/net/veth.ko"), sorted.
func (x *Index) Under(dirs ...string) []string {
	var out []string
	for f := range x.deps {
		for _, d := range dirs {
			if d = strings.TrimSuffix(d, "/"); f == d || strings.HasPrefix(f, d+"/") {
				out = append(out, f)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// Subset renders modules.dep, modules.alias and modules.softdep text
// for just the given files (the initramfs carries only those).
func (x *Index) Subset(files []string) (dep, aliases, softdeps string) {
	keep := map[string]bool{}
	for _, f := range files {
		keep[f] = true
	}
	var d, a strings.Builder
	sorted := append([]string(nil), files...)
	sort.Strings(sorted)
	for _, f := range sorted {
		fmt.Fprintf(&d, "%s:", f)
		for _, dep := range x.deps[f] {
			fmt.Fprintf(&d, " %s", dep)
		}
		d.WriteString("\n")
	}
	for _, al := range x.aliases {
		if keep[x.File(al.module)] {
			fmt.Fprintf(&a, "alias %s %s\n", al.pattern, al.module)
		}
	}
	var sd strings.Builder
	for _, f := range sorted {
		if pre := x.pre[Name(f)]; len(pre) > 0 {
			fmt.Fprintf(&sd, "softdep %s pre: %s\n", Name(f), strings.Join(pre, " "))
		}
	}
	return d.String(), a.String(), sd.String()
}
