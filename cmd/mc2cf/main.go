// SPDX-License-Identifier: MIT

// Command mc2cf turns a sendmail.mc into a sendmail.cf without GNU m4 or
// sendmail-cf, as `m4 sendmail.mc > sendmail.cf` does with them:
//
//	mc2cf [-o out.cf] [-I dir]... [-D name[=value]]... [file.mc]
//
// The cf goes to standard output unless -o names a file, which is then
// replaced atomically. Errors are reported as m4 reports them
// ("m4:<file>:<line>: <message>") and make the exit status 1. Rulesets are
// not generated; see mailsuite/pkg/mc.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"mailsuite/pkg/mc"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mc2cf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the cf to `file` (atomically) instead of standard output")
	var incs, defs listFlag
	fs.Var(&incs, "I", "search `dir` for included files (repeatable)")
	fs.Var(&defs, "D", "define `name[=value]` before reading the mc (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mc2cf [-o out.cf] [-I dir]... [-D name[=value]]... [file.mc]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	opts := mc.CompileOptions{Stderr: stderr, IncludeDirs: incs, Defines: map[string]string{}}
	for _, d := range defs {
		name, value, _ := strings.Cut(d, "=")
		opts.Defines[name] = value
	}

	name, in := "stdin", stdin
	if fs.NArg() == 1 && fs.Arg(0) != "-" {
		name = fs.Arg(0)
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "m4: cannot open `%s': %s\n", name, strerror(err))
			return 1
		}
		defer f.Close()
		in = f
	}

	var cf bytes.Buffer
	err := mc.Compile(name, in, &cf, opts)
	if err != nil && !errors.Is(err, mc.ErrReported) {
		fmt.Fprintf(stderr, "mc2cf: %v\n", err)
		return 1
	}
	if *out == "" {
		if _, werr := stdout.Write(cf.Bytes()); werr != nil {
			fmt.Fprintf(stderr, "mc2cf: %v\n", werr)
			return 1
		}
	} else if err == nil {
		// Unlike a shell redirection, a failed run leaves the old cf alone.
		if werr := writeAtomic(*out, cf.Bytes()); werr != nil {
			fmt.Fprintf(stderr, "mc2cf: %v\n", werr)
			return 1
		}
	}
	if err != nil {
		return 1
	}
	return 0
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, synced, then renamed over it.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// strerror words an open error as the C library does, as m4 prints it.
func strerror(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	s := err.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
