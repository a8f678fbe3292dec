// SPDX-License-Identifier: MIT

package mc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// CompileOptions configures Compile. The zero value reads included files
// from the file system and discards warnings.
type CompileOptions struct {
	// Stderr receives m4's diagnostics: errors as "m4:<file>:<line>: <msg>"
	// and the warnings the sendmail-cf macros print.
	Stderr io.Writer
	// IncludeDirs are searched for relative include names, like m4 -I.
	IncludeDirs []string
	// Defines are set before the mc is read, like m4 -Dname=value.
	Defines map[string]string
	// Open opens included files; nil means os.Open. Including a path that
	// ends in m4/cf.m4 never calls it: the sendmail-cf layer is built in.
	Open func(name string) (io.ReadCloser, error)
}

// ErrReported is wrapped by Compile's error when m4 diagnostics were
// already written to Stderr and the compilation must fail (m4 exits 1).
var ErrReported = errors.New("m4 reported errors")

// Compile reads the sendmail.mc r (named name in diagnostics) and writes
// the sendmail.cf to out. The sendmail-cf macro layer (OSTYPE, DOMAIN,
// FEATURE, MAILER, define(conf...), ...) is built in and installed when the
// mc includes cf.m4, so neither GNU m4 nor sendmail-cf needs to be installed.
// Rulesets are not generated.
func Compile(name string, r io.Reader, out io.Writer, opts CompileOptions) error {
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	open := opts.Open
	if open == nil {
		open = func(n string) (io.ReadCloser, error) { return os.Open(n) }
	}
	// Relative names are tried as given, then in each include directory,
	// as m4 -I does.
	resolve := func(n string) (io.ReadCloser, error) {
		rc, err := open(n)
		if err == nil || filepath.IsAbs(n) || !errors.Is(err, fs.ErrNotExist) {
			return rc, err
		}
		for _, d := range opts.IncludeDirs {
			if rc, err2 := open(filepath.Join(d, n)); err2 == nil {
				return rc, nil
			}
		}
		return nil, err
	}
	var l *layer
	e := NewEngine(Options{
		Stderr:      opts.Stderr,
		IncludeDirs: opts.IncludeDirs,
		Open: func(n string) (io.ReadCloser, error) {
			if isCfPath(n) {
				if l.installed {
					// cf.m4 read a second time does nothing but divert(-1).
					return io.NopCloser(strings.NewReader("divert(-1)")), nil
				}
				l.install(n)
				return io.NopCloser(strings.NewReader(cfHeader)), nil
			}
			return resolve(n)
		},
	})
	l = newLayer(e, opts.Stderr, resolve)
	keys := make([]string, 0, len(opts.Defines))
	for k := range opts.Defines {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e.Define(k, opts.Defines[k])
	}
	e.SetBuiltin(finishMacro, l.finish)
	if err := e.Process(name, r, out); err != nil {
		if st := e.ExitStatus(); st != 0 {
			// A fatal error or m4exit: m4 has said what it had to say.
			return fmt.Errorf("%s: m4 exit status %d: %w", name, st, ErrReported)
		}
		return err
	}
	if n := e.ErrorCount(); n > 0 {
		return fmt.Errorf("%s: %d errors: %w", name, n, ErrReported)
	}
	return nil
}
