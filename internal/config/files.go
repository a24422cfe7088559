package config

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"gopkg.in/ini.v1"
)

// Upstream's daemons read several files (neutron-server --config-file
// neutron.conf --config-file ml2_conf.ini; neutron-l3-agent adds
// l3_agent.ini, ...). Our loaders do the same: each file is checked on
// its own, so that an unknown option is reported with the file it is in,
// and then the files are merged, a later file overriding an earlier one.

// Ignored is an upstream option that this backend accepts but does not
// use, with the reason (logged once at start).
type Ignored struct {
	Section, Name, Why string
}

func (i Ignored) String() string { return fmt.Sprintf("[%s] %s", i.Section, i.Name) }

// IgnoredOption describes an upstream option that does not apply to this
// backend. Need, when set, is the only boolean value that the backend can
// honour ("use_namespaces = False" cannot be ignored: it asks for
// something we do not do).
type IgnoredOption struct {
	Why  string
	Need *bool
}

// Schema is what one program's configuration files may contain.
type Schema struct {
	What string // "config", "agent config": the prefix of errors
	// Known lists the options read, per section; a nil list accepts any
	// option (free-form sections such as [keystone_authtoken]).
	Known map[string][]string
	// Ignored lists upstream options accepted without effect, per
	// section. A section that appears only here is accepted too.
	Ignored map[string]map[string]IgnoredOption
}

var (
	yes = func() *bool { b := true; return &b }()
	no  = func() *bool { b := false; return &b }()
)

// Must is an ignored option that is fine only with the value need.
func Must(need bool, why string) IgnoredOption {
	if need {
		return IgnoredOption{Why: why, Need: yes}
	}
	return IgnoredOption{Why: why, Need: no}
}

// Skip is an ignored option whatever its value.
func Skip(why string) IgnoredOption { return IgnoredOption{Why: why} }

// Load checks every file against the schema and merges them in order.
// It returns the merged file and the ignored options that the files set,
// each once (in the order first seen).
func (s Schema) Load(paths []string) (*ini.File, []Ignored, error) {
	if len(paths) == 0 {
		return ini.Empty(), nil, nil
	}
	var (
		ignored []Ignored
		errs    []error
		sources = make([]any, len(paths))
	)
	for i, p := range paths {
		sources[i] = p
		f, err := ini.Load(p)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s %s: %w", s.What, p, err)
		}
		for _, ig := range s.check(f, p, &errs) {
			if !slices.Contains(ignored, ig) {
				ignored = append(ignored, ig)
			}
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	f, err := ini.Load(sources[0], sources[1:]...)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s %s: %w", s.What, strings.Join(paths, ", "), err)
	}
	return f, ignored, nil
}

// check reports every unknown section or option of one file (and an
// ignored option set to a value we cannot honour) as an error naming the
// file; it returns the ignored options the file sets.
func (s Schema) check(f *ini.File, path string, errs *[]error) []Ignored {
	var out []Ignored
	for _, sec := range f.Sections() {
		name := sec.Name()
		known, isKnown := s.Known[name]
		ign, isIgnored := s.Ignored[name]
		if !isKnown && !isIgnored {
			if name == ini.DefaultSection && len(sec.Keys()) == 0 {
				continue // ini always has a DEFAULT section
			}
			*errs = append(*errs, fmt.Errorf("%s %s: unknown section [%s]", s.What, path, name))
			continue
		}
		for _, k := range sec.Keys() {
			if o, ok := ign[k.Name()]; ok {
				if o.Need != nil {
					v, err := k.Bool()
					if err != nil || v != *o.Need {
						*errs = append(*errs, fmt.Errorf("%s %s: [%s] %s = %q is not supported: %s", s.What, path, name, k.Name(), k.String(), o.Why))
						continue
					}
				}
				out = append(out, Ignored{Section: name, Name: k.Name(), Why: o.Why})
				continue
			}
			if isKnown && (known == nil || slices.Contains(known, k.Name())) {
				continue
			}
			*errs = append(*errs, fmt.Errorf("%s %s: unknown option %q in [%s]", s.What, path, k.Name(), name))
		}
	}
	return out
}

// LogIgnored logs each ignored option once.
func LogIgnored(log *slog.Logger, ignored []Ignored) {
	for _, ig := range ignored {
		log.Info("upstream option ignored: it does not apply to this backend", "option", ig.String(), "why", ig.Why)
	}
}

// Files is a repeatable --config-file flag (flag.Value).
type Files []string

func (f *Files) String() string { return strings.Join(*f, ",") }

// Set adds one file.
func (f *Files) Set(path string) error {
	if path == "" {
		return errors.New("empty file name")
	}
	*f = append(*f, path)
	return nil
}

// After returns the files to read: first (the --config file) when set,
// then the --config-file ones in order.
func (f Files) After(first string) []string {
	if first == "" {
		return slices.Clone(f)
	}
	return append([]string{first}, f...)
}
