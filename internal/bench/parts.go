package bench

import (
	"errors"
	"fmt"
	"io"
)

// parts collects the errors of a benchmark's parts: a part that fails
// is logged (and diagnosed, where the benchmark can) and the others
// still run; the benchmark returns its report with the errors joined.
type parts struct {
	errs     []error
	logf     func(format string, args ...any)
	diagnose func(part string) // nil: none
}

// fail records part's error and returns its text for the report.
func (p *parts) fail(part string, err error) string {
	p.errs = append(p.errs, fmt.Errorf("%s: %w", part, err))
	p.logf("%s failed: %v", part, err)
	if p.diagnose != nil {
		p.diagnose(part)
	}
	return err.Error()
}

// err is the parts' errors joined, nil if none failed.
func (p *parts) err() error { return errors.Join(p.errs...) }

// progressf writes a progress line to w (nil: none).
func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// unsetTo sets an option left at zero (or negative) to its default.
func unsetTo(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}
