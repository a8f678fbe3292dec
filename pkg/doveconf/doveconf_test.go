// SPDX-License-Identifier: MIT

package doveconf

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/variants from the real doveconf")

// copyTree copies the directory src to dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// stripHeader drops the comment lines doveconf and dovecotd print first.
func stripHeader(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "#") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// result is what a doveconf run shows: stdout without the header, stderr
// and the exit status.
type result struct {
	Stdout string
	Stderr string
	Code   int
}

// runReal runs the real doveconf with -c on a temporary copy.
func runReal(t *testing.T, bin, conf string, all bool) result {
	t.Helper()
	mode := "-n"
	if all {
		mode = "-a"
	}
	cmd := exec.Command(bin, "-c", conf, mode)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run doveconf: %v", err)
		}
		code = ee.ExitCode()
	}
	return result{stripHeader(out.String()), errb.String(), code}
}

// runOurs produces the same three things from this package, the way
// cmd/dovecotd reports them.
func runOurs(conf string, all bool) result {
	var out, errb bytes.Buffer
	cfg, err := Load(conf, Options{})
	var ce *Error
	if cfg == nil && errors.As(err, &ce) {
		for _, m := range ce.Messages {
			fmt.Fprintf(&errb, "doveconf: %s\n", m)
		}
	}
	if cfg != nil {
		for _, m := range cfg.Messages {
			fmt.Fprintf(&errb, "doveconf: %s\n", m)
		}
		_ = cfg.Dump(&out, all)
		for _, e := range cfg.CheckErrors {
			fmt.Fprintf(&errb, "doveconf: Error: %s\n", e)
		}
	}
	code := 0
	if err != nil {
		fmt.Fprintf(&errb, "doveconf: Fatal: %s\n", err)
		code = 89
	}
	return result{out.String(), errb.String(), code}
}

func debianTree(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, filepath.Join("testdata", "debian"), dir)
	// dovecot.conf pulls the protocol files from an absolute path; point
	// it at the copy so the test does not depend on /usr/share/dovecot.
	conf := filepath.Join(dir, "etc-dovecot", "dovecot.conf")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte("/usr/share/dovecot/protocols.d/"), []byte(filepath.Join(dir, "protocols.d")+"/"), 1)
	if err := os.WriteFile(conf, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

func TestDebianTreeGolden(t *testing.T) {
	conf := debianTree(t)
	for _, tc := range []struct {
		name string
		all  bool
		want string
	}{
		{"n", false, "expected-doveconf-n.txt"},
		{"a", true, "expected-doveconf-a.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "debian", tc.want))
			if err != nil {
				t.Fatal(err)
			}
			got := runOurs(conf, tc.all)
			if got.Stderr != "" || got.Code != 0 {
				t.Fatalf("stderr %q, code %d", got.Stderr, got.Code)
			}
			if diff := cmp.Diff(stripHeader(string(want)), got.Stdout); diff != "" {
				t.Errorf("-%s output differs from doveconf's (-want +got):\n%s", tc.name, diff)
			}
		})
	}
	t.Run("lines", func(t *testing.T) {
		if n := strings.Count(runOurs(conf, true).Stdout, "\n"); n != 1161-5 {
			t.Errorf("-a printed %d setting lines, doveconf prints 1156 (1161 with its 5 header lines)", n)
		}
	})
}

func TestDebianTreeAgainstDoveconf(t *testing.T) {
	bin := testutil.Oracle(t, "doveconf", "dovecot-core")
	conf := debianTree(t)
	for _, all := range []bool{false, true} {
		t.Run(fmt.Sprintf("all=%v", all), func(t *testing.T) {
			if diff := cmp.Diff(runReal(t, bin, conf, all), runOurs(conf, all)); diff != "" {
				t.Errorf("(-doveconf +ours):\n%s", diff)
			}
		})
	}
	// With the include left as Debian ships it, both read the installed
	// /usr/share/dovecot/protocols.d (imapd and pop3d protocol files, the
	// same as the fixture's copies). Where that directory is missing the
	// !include_try silently includes nothing and doveconf -n prints no
	// protocols line at all (Debian's compiled-in default is empty).
	t.Run("absolute-include", func(t *testing.T) {
		dir := t.TempDir()
		copyTree(t, filepath.Join("testdata", "debian", "etc-dovecot"), dir)
		conf := filepath.Join(dir, "dovecot.conf")
		if diff := cmp.Diff(runReal(t, bin, conf, false), runOurs(conf, false)); diff != "" {
			t.Errorf("(-doveconf +ours):\n%s", diff)
		}
	})
}

func variantNames(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("testdata", "variants"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) < 10 {
		t.Fatalf("only %d variants", len(names))
	}
	return names
}

// TestVariantsGolden compares dovecotd's -n output and messages with the
// real doveconf's, recorded in want-n.txt and want-stderr.txt (-update
// records them again from the installed doveconf).
func TestVariantsGolden(t *testing.T) {
	var bin string
	if *update {
		bin = testutil.Oracle(t, "doveconf", "dovecot-core")
	}
	for _, name := range variantNames(t) {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join("testdata", "variants", name)
			dir := t.TempDir()
			copyTree(t, src, dir)
			conf := filepath.Join(dir, "dovecot.conf")
			if *update {
				r := runReal(t, bin, conf, false)
				stderr := strings.ReplaceAll(r.Stderr, dir, "<dir>")
				if err := os.WriteFile(filepath.Join(src, "want-n.txt"), []byte(r.Stdout), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(src, "want-stderr.txt"), []byte(stderr), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantOut, err := os.ReadFile(filepath.Join(src, "want-n.txt"))
			if err != nil {
				t.Fatal(err)
			}
			wantErr, err := os.ReadFile(filepath.Join(src, "want-stderr.txt"))
			if err != nil {
				t.Fatal(err)
			}
			got := runOurs(conf, false)
			if diff := cmp.Diff(string(wantOut), got.Stdout); diff != "" {
				t.Errorf("-n (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(string(wantErr), strings.ReplaceAll(got.Stderr, dir, "<dir>")); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVariantsAgainstDoveconf runs the real doveconf on every variant, with
// both -n and -a.
func TestVariantsAgainstDoveconf(t *testing.T) {
	bin := testutil.Oracle(t, "doveconf", "dovecot-core")
	for _, name := range variantNames(t) {
		for _, all := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/all=%v", name, all), func(t *testing.T) {
				dir := t.TempDir()
				copyTree(t, filepath.Join("testdata", "variants", name), dir)
				conf := filepath.Join(dir, "dovecot.conf")
				if diff := cmp.Diff(runReal(t, bin, conf, all), runOurs(conf, all)); diff != "" {
					t.Errorf("(-doveconf +ours):\n%s", diff)
				}
			})
		}
	}
}
