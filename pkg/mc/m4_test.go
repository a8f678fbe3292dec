// SPDX-License-Identifier: MIT

package mc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// m4Result is what a run of m4 produces.
type m4Result struct {
	Stdout, Stderr string
	Status         int
}

// runOurs processes file (a path relative to dir) with our engine, as
// "m4 [-Dname=value...] file" run in dir would.
func runOurs(t testing.TB, dir, file string, defines map[string]string, opts Options) m4Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	opts.Stderr = &stderr
	if opts.Open == nil {
		opts.Open = func(name string) (io.ReadCloser, error) {
			p := name
			if p == "" {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			}
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			return openRegular(p)
		}
	}
	e := NewEngine(opts)
	names := make([]string, 0, len(defines))
	for n := range defines {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		e.Define(n, defines[n])
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	_ = e.Process(file, bytes.NewReader(data), &stdout)
	return m4Result{Stdout: stdout.String(), Stderr: stderr.String(), Status: e.ExitStatus()}
}

// runReal runs the real m4 in dir.
func runReal(t testing.TB, m4 string, dir string, args ...string) m4Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, m4, args...)
	cmd.Args[0] = "m4" // m4 names itself by argv[0] in messages
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	status := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", m4, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v timed out", m4, args)
	}
	return m4Result{Stdout: stdout.String(), Stderr: stderr.String(), Status: status}
}

// TestM4Differential runs every testdata/m4/*.m4 through the real GNU m4
// and through the engine: stdout, stderr and exit status must agree.
func TestM4Differential(t *testing.T) {
	m4 := testutil.Oracle(t, "m4", "m4")
	dir := filepath.Join("testdata", "m4")
	files, err := filepath.Glob(filepath.Join(dir, "*.m4"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 60 {
		t.Errorf("corpus has %d inputs, want at least 60", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".m4"), func(t *testing.T) {
			want := runReal(t, m4, dir, "-L1024", name)
			got := runOurs(t, dir, name, nil, Options{MaxDepth: 1024})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("m4 %s: real (-) vs ours (+):\n%s", name, diff)
			}
		})
	}
}

// TestM4SendmailCF runs the shared sendmail.mc vectors through the real
// m4 with Debian's /usr/share/sendmail/cf and through the engine reading
// the same macro files: the engine must be exact on a real macro package.
func TestM4SendmailCF(t *testing.T) {
	m4 := testutil.Oracle(t, "m4", "m4")
	if _, err := os.Stat("/usr/share/sendmail/cf/m4/cf.m4"); err != nil {
		if testutil.InCI() {
			t.Fatal("sendmail-cf is not installed")
		}
		t.Skip("sendmail-cf is not installed (/usr/share/sendmail/cf)")
	}
	var files []string
	for _, sub := range []string{"full", "snippets"} {
		dir := testutil.SharedTestdata(t, filepath.Join("mc", sub))
		fs, err := filepath.Glob(filepath.Join(dir, "*.mc"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	if len(files) == 0 {
		t.Fatal("no .mc vectors found")
	}
	for _, f := range files {
		dir, name := filepath.Split(f)
		t.Run(filepath.Base(filepath.Dir(f))+"/"+strings.TrimSuffix(name, ".mc"), func(t *testing.T) {
			want := runReal(t, m4, dir, "-D_NO_MAKEINFO_", name)
			got := runOurs(t, dir, name, map[string]string{"_NO_MAKEINFO_": ""}, Options{})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("m4 -D_NO_MAKEINFO_ %s: real (-) vs ours (+):\n%s", name, diff)
			}
		})
	}
}

// TestM4SendmailCFMacros drives every FEATURE, OSTYPE, MAILER, DOMAIN and
// HACK file of sendmail-cf, one per generated .mc, through the real m4
// and the engine. Many of them print errors (missing arguments, unknown
// hosts); those must match too.
func TestM4SendmailCFMacros(t *testing.T) {
	m4 := testutil.Oracle(t, "m4", "m4")
	const cfdir = "/usr/share/sendmail/cf"
	if _, err := os.Stat(cfdir + "/m4/cf.m4"); err != nil {
		if testutil.InCI() {
			t.Fatal("sendmail-cf is not installed")
		}
		t.Skip("sendmail-cf is not installed (/usr/share/sendmail/cf)")
	}
	kinds := []struct{ dir, line string }{
		{"feature", "FEATURE(`%s')dnl\n"},
		{"ostype", "OSTYPE(`%s')dnl\n"},
		{"mailer", "MAILER(`%s')dnl\n"},
		{"domain", "DOMAIN(`%s')dnl\n"},
		{"hack", "HACK(`%s')dnl\n"},
	}
	dir := t.TempDir()
	for _, k := range kinds {
		files, err := filepath.Glob(filepath.Join(cfdir, k.dir, "*.m4"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".m4")
			t.Run(k.dir+"/"+name, func(t *testing.T) {
				mc := "divert(-1)dnl\ninclude(`" + cfdir + "/m4/cf.m4')dnl\ndivert(0)dnl\n"
				if k.dir != "ostype" {
					mc += "OSTYPE(`linux')dnl\n"
				}
				mc += strings.ReplaceAll(k.line, "%s", name)
				if k.dir != "mailer" {
					mc += "MAILER(`local')dnl\nMAILER(`smtp')dnl\n"
				}
				file := k.dir + "_" + name + ".mc"
				if err := os.WriteFile(filepath.Join(dir, file), []byte(mc), 0o644); err != nil {
					t.Fatal(err)
				}
				want := runReal(t, m4, dir, "-D_NO_MAKEINFO_", file)
				got := runOurs(t, dir, file, map[string]string{"_NO_MAKEINFO_": ""}, Options{})
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("real (-) vs ours (+):\n%s", diff)
				}
			})
		}
	}
}
