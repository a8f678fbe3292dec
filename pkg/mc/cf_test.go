// SPDX-License-Identifier: MIT

package mc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/parser"
	gotoken "go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// The differential tests compare the non-ruleset, non-comment lines (as a
// sorted list, so order is free but each line must occur as often)
// of Compile's output with what GNU m4 + sendmail-cf make of the same mc:
// continuation lines joined, S and R lines and the DZ version line left out.
//
// Compile runs with an Open hook that refuses every file of a sendmail-cf
// tree, so a pass proves the layer does not read the real macros.

// knownFailures lists vectors whose cf is known to differ, with the reason.
// The test fails when one of them starts passing (remove it then) and when
// a vector not listed fails.
// It is empty: every vector passes.
var knownFailures = map[string]string{}

// vector is one mc with where its expected cf comes from.
type vector struct {
	name   string // e.g. snippets/masquerade
	mc     string // path of the mc
	stored func(t *testing.T) string
	m4err  string // path of the stored m4 stderr, "" when m4 printed nothing
}

const cfData = "testdata/cf"

func vectors(t *testing.T) []vector {
	t.Helper()
	var vs []vector
	base := readFile(t, filepath.Join(cfData, "base.cf"))
	vs = append(vs, vector{name: "base", mc: filepath.Join(cfData, "base.mc"), stored: func(*testing.T) string { return base }})
	snips, _ := filepath.Glob(filepath.Join(cfData, "snippets", "*.mc"))
	for _, mc := range snips {
		stem := strings.TrimSuffix(mc, ".mc")
		vs = append(vs, vector{
			name: "snippets/" + filepath.Base(stem), mc: mc,
			stored: func(t *testing.T) string {
				out, err := applyDiff(base, readFile(t, stem+".diff"))
				if err != nil {
					t.Fatalf("%s.diff: %v", stem, err)
				}
				return out
			},
			m4err: existing(stem + ".m4err"),
		})
	}
	for _, dir := range []string{"full", "own"} {
		mcs, _ := filepath.Glob(filepath.Join(cfData, dir, "*.mc"))
		for _, mc := range mcs {
			stem := strings.TrimSuffix(mc, ".mc")
			vs = append(vs, vector{
				name: dir + "/" + filepath.Base(stem), mc: mc,
				stored: func(t *testing.T) string { return readFile(t, stem+".cf") },
				m4err:  existing(stem + ".m4err"),
			})
		}
	}
	if len(vs) < 80 {
		t.Fatalf("only %d vectors found under %s", len(vs), cfData)
	}
	return vs
}

func existing(p string) string {
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mcText is the mc as both sides read it: Debian's sendmail.mc includes
// /etc/mail/m4/*.m4, which are served from testdata so that the test does
// not depend on the machine's /etc.
func mcText(t testing.TB, p string) string {
	abs, err := filepath.Abs(filepath.Join(cfData, "etc-mail-m4"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(readFile(t, p), "/etc/mail/m4/", abs+"/")
}

// refuseSendmailCf is the Open hook of the tests: no file of a real
// sendmail-cf tree may be read.
func refuseSendmailCf(name string) (io.ReadCloser, error) {
	if strings.Contains(name, "/usr/share/sendmail") || strings.Contains(name, "sendmail-cf") {
		return nil, fmt.Errorf("test refuses to open %s: mc2cf must not read sendmail-cf", name)
	}
	return os.Open(name)
}

// compile runs Compile on an mc file the way the tests do.
func compile(t testing.TB, p string) (cf, stderr string, err error) {
	var out, errb bytes.Buffer
	err = Compile(p, strings.NewReader(mcText(t, p)), &out, CompileOptions{
		Stderr: &errb,
		Open:   refuseSendmailCf,
	})
	return out.String(), errb.String(), err
}

// cfLines is the comparable content of a cf: one entry per logical line,
// continuation lines joined, without comments, blank lines, rulesets (S and
// R lines) and the DZ version line; sorted. Duplicates are kept: a line
// written twice is a difference too.
func cfLines(cf string) []string {
	var logical []string
	sc := bufio.NewScanner(strings.NewReader(cf))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && len(logical) > 0 {
			logical[len(logical)-1] += "\n" + line
			continue
		}
		logical = append(logical, line)
	}
	var out []string
	for _, l := range logical {
		if strings.TrimSpace(l) == "" || l[0] == '#' || l[0] == 'S' || l[0] == 'R' || strings.HasPrefix(l, "DZ") {
			continue
		}
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// applyDiff applies a unified diff (without its --- and +++ lines) to text.
func applyDiff(text, diff string) (string, error) {
	src := strings.SplitAfter(text, "\n")
	var out []string
	pos := 0 // next line of src to copy
	lines := strings.SplitAfter(diff, "\n")
	for i := 0; i < len(lines); i++ {
		h := lines[i]
		if h == "" {
			continue
		}
		if !strings.HasPrefix(h, "@@ -") {
			return "", fmt.Errorf("line %d: expected a hunk header, got %q", i+1, h)
		}
		f := strings.Fields(h)
		start, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(f[1], "-"), ",", 2)[0])
		if start > 0 {
			start--
		}
		if start < pos || start > len(src) {
			return "", fmt.Errorf("line %d: hunk at %d out of order", i+1, start+1)
		}
		out = append(out, src[pos:start]...)
		pos = start
		for i+1 < len(lines) && lines[i+1] != "" && !strings.HasPrefix(lines[i+1], "@@ ") {
			i++
			l := lines[i]
			switch l[0] {
			case ' ':
				out = append(out, l[1:])
				pos++
			case '-':
				pos++
			case '+':
				out = append(out, l[1:])
			case '\\': // "\ No newline at end of file"
			default:
				return "", fmt.Errorf("line %d: bad diff line %q", i+1, l)
			}
		}
	}
	out = append(out, src[pos:]...)
	return strings.Join(out, ""), nil
}

// result of one vector.
type result struct {
	diff string // empty when the lines are equal
	err  error
}

func runVectors(t *testing.T, expected func(t *testing.T, v vector) string) {
	vs := vectors(t)
	pass := 0
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			want := expected(t, v)
			got, stderr, err := compile(t, v.mc)
			var diff string
			if err != nil {
				diff = fmt.Sprintf("Compile: %v\nstderr:\n%s", err, stderr)
			} else {
				diff = cmp.Diff(cfLines(want), cfLines(got))
			}
			reason, known := knownFailures[v.name]
			switch {
			case diff == "" && known:
				t.Errorf("%s passes now; remove it from knownFailures (%s)", v.name, reason)
			case diff == "":
				pass++
			case known:
				t.Logf("known failure (%s):\n%s", reason, diff)
			default:
				t.Errorf("cf lines differ (-m4 +mc2cf):\n%s", diff)
			}
			if v.m4err != "" && err == nil {
				if d := cmp.Diff(readFile(t, v.m4err), stderr); d != "" && !known {
					t.Errorf("stderr differs (-m4 +mc2cf):\n%s", d)
				}
			}
		})
	}
	t.Logf("%d of %d vectors pass, %d known failures", pass, len(vs), len(knownFailures))
}

// TestCompileStored compares with the vectors made with GNU m4 and Debian's
// sendmail-cf 8.17.1.9 (testdata/cf, copied from the shared vectors and made
// with gen-own.sh).
func TestCompileStored(t *testing.T) {
	runVectors(t, func(t *testing.T, v vector) string { return v.stored(t) })
}

// TestCompileOracle runs GNU m4 with the installed sendmail-cf on every mc
// and compares with that.
func TestCompileOracle(t *testing.T) {
	m4 := testutil.Oracle(t, "m4", "m4")
	if _, err := os.Stat("/usr/share/sendmail/cf/m4/cf.m4"); err != nil {
		msg := "sendmail-cf not installed (/usr/share/sendmail/cf/m4/cf.m4)"
		if testutil.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	runVectors(t, func(t *testing.T, v vector) string {
		// Rocky's sendmail-cf lives in /usr/share/sendmail-cf; m4 reads
		// Debian's tree for it.
		text := strings.ReplaceAll(mcText(t, v.mc), "/usr/share/sendmail-cf/", "/usr/share/sendmail/cf/")
		cmd := exec.Command(m4, "-D_NO_MAKEINFO_")
		cmd.Stdin = strings.NewReader(text)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("m4 %s: %v\n%s", v.mc, err, errb.String())
		}
		return out.String()
	})
}

// oracleCf runs GNU m4 with the installed sendmail-cf on an mc text.
func oracleCf(t *testing.T, text string) (cf, stderr string) {
	t.Helper()
	m4 := testutil.Oracle(t, "m4", "m4")
	if _, err := os.Stat("/usr/share/sendmail/cf/m4/cf.m4"); err != nil {
		msg := "sendmail-cf not installed (/usr/share/sendmail/cf/m4/cf.m4)"
		if testutil.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(m4, "-D_NO_MAKEINFO_")
	cmd.Stdin = strings.NewReader(text)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("m4: %v\n%s", err, errb.String())
	}
	return out.String(), errb.String()
}

// TestEachOstypeOracle and TestEachFeatureOracle compare every system type
// and every feature that is built in, each alone in a small mc, with m4.
func TestEachOstypeOracle(t *testing.T) {
	names := make([]string, 0, len(ostypes))
	for n := range ostypes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			mc := "divert(-1)dnl\ninclude(`/usr/share/sendmail/cf/m4/cf.m4')dnl\ndivert(0)dnl\nOSTYPE(`" + n + "')dnl\nMAILER(`local')dnl\nMAILER(`smtp')dnl\nMAILER(`uucp')dnl\nMAILER(`usenet')dnl\n"
			compareOracle(t, mc)
		})
	}
}

func TestEachFeatureOracle(t *testing.T) {
	names := make([]string, 0, len(features))
	for n := range features {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			mc := "divert(-1)dnl\ninclude(`/usr/share/sendmail/cf/m4/cf.m4')dnl\ndivert(0)dnl\nOSTYPE(`linux')dnl\nFEATURE(`access_db')dnl\nFEATURE(`" + n + "')dnl\nMAILER(`local')dnl\nMAILER(`smtp')dnl\n"
			if n == "nullclient" || n == "msp" {
				mc = strings.Replace(mc, "FEATURE(`"+n+"')", "FEATURE(`"+n+"', `hub.example.com')", 1)
				mc = strings.Replace(mc, "MAILER(`local')dnl\nMAILER(`smtp')dnl\n", "", 1)
			}
			compareOracle(t, mc)
		})
	}
}

// TestSendmailCfExamplesOracle compiles the example mc files that
// sendmail-cf ships (generic-*.mc and the rest of cf/cf) and compares them
// with m4 run in that folder. They do not include cf.m4 themselves (their
// Makefile runs "m4 ../m4/cf.m4 x.mc"), so both sides get the include put
// in front of the first line. Those that name a DOMAIN, HACK or SITECONFIG
// table we do not build in read it from the sendmail-cf tree, the
// documented fallback; nothing else of the tree may be opened.
func TestSendmailCfExamplesOracle(t *testing.T) {
	dir := "/usr/share/sendmail/cf/cf"
	mcs, _ := filepath.Glob(filepath.Join(dir, "*.mc"))
	if len(mcs) == 0 {
		oracleCf(t, "") // skips or fails as the other oracle tests do
		t.Fatalf("no example mc files in %s", dir)
	}
	for _, p := range mcs {
		t.Run(filepath.Base(p), func(t *testing.T) {
			text := "include(`../m4/cf.m4')" + readFile(t, p)
			m4 := testutil.Oracle(t, "m4", "m4")
			cmd := exec.Command(m4, "-D_NO_MAKEINFO_", "../m4/cf.m4", filepath.Base(p))
			cmd.Dir = dir
			var want, wantErr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &want, &wantErr
			if err := cmd.Run(); err != nil {
				t.Skipf("m4 itself fails on %s: %v\n%s", p, err, wantErr.String())
			}
			var out, errb bytes.Buffer
			err := Compile(filepath.Base(p), strings.NewReader(text), &out, CompileOptions{
				Stderr: &errb,
				Open: func(name string) (io.ReadCloser, error) {
					if !filepath.IsAbs(name) {
						name = filepath.Join(dir, name)
					}
					if !strings.HasPrefix(name, "/usr/share/sendmail/cf/domain/") && !strings.HasPrefix(name, "/usr/share/sendmail/cf/hack/") && !strings.HasPrefix(name, "/usr/share/sendmail/cf/siteconfig/") {
						return refuseSendmailCf(name)
					}
					return os.Open(name)
				},
			})
			if err != nil {
				t.Fatalf("Compile: %v\n%s", err, errb.String())
			}
			if !strings.Contains(want.String(), "\nV10/Berkeley\n") {
				t.Fatalf("m4 made no cf of %s:\n%s", p, want.String())
			}
			if d := cmp.Diff(cfLines(want.String()), cfLines(out.String())); d != "" {
				t.Errorf("cf lines differ (-m4 +mc2cf):\n%s", d)
			}
			if d := cmp.Diff(wantErr.String(), errb.String()); d != "" {
				t.Errorf("stderr differs (-m4 +mc2cf):\n%s", d)
			}
		})
	}
}

func compareOracle(t *testing.T, mc string) {
	t.Helper()
	want, wantErr := oracleCf(t, mc)
	var out, errb bytes.Buffer
	if err := Compile("stdin", strings.NewReader(mc), &out, CompileOptions{Stderr: &errb, Open: refuseSendmailCf}); err != nil {
		t.Fatalf("Compile: %v\n%s", err, errb.String())
	}
	if d := cmp.Diff(cfLines(want), cfLines(out.String())); d != "" {
		t.Errorf("cf lines differ (-m4 +mc2cf):\n%s", d)
	}
	if d := cmp.Diff(wantErr, errb.String()); d != "" {
		t.Errorf("stderr differs (-m4 +mc2cf):\n%s", d)
	}
}

// TestNoExec proves mc2cf does not run m4 or anything else: no non-test
// file of the package imports os/exec or starts a process another way.
func TestNoExec(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := gotoken.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "os/exec" {
				t.Errorf("%s imports %s", f, p)
			}
		}
		src := readFile(t, f)
		for _, call := range []string{"StartProcess", "ForkExec", "syscall.Exec", "unix.Exec"} {
			if strings.Contains(src, call) {
				t.Errorf("%s calls %s", f, call)
			}
		}
	}
}

func TestCompileErrors(t *testing.T) {
	head := "divert(-1)dnl\ninclude(`/usr/share/sendmail/cf/m4/cf.m4')dnl\ndivert(0)dnl\nOSTYPE(`linux')dnl\n"
	tests := []struct {
		name, mc, stderr string
		fail             bool
	}{
		{name: "unknown feature", mc: head + "FEATURE(`no_such_feature')dnl\n", stderr: "m4:t.mc:5: cannot open `/usr/share/sendmail/cf/feature/no_such_feature.m4': No such file or directory\n", fail: true},
		{name: "unknown domain", mc: head + "DOMAIN(`example.org')dnl\n", stderr: "m4:t.mc:5: cannot open `/usr/share/sendmail/cf/domain/example.org.m4': No such file or directory\n", fail: true},
		{name: "unknown ostype", mc: strings.Replace(head, "linux", "plan9", 1), stderr: "m4:t.mc:4: cannot open `/usr/share/sendmail/cf/ostype/plan9.m4': No such file or directory\n", fail: true},
		{name: "feature after mailer", mc: head + "MAILER(`local')dnl\nFEATURE(`use_cw_file')dnl\n", stderr: "*** ERROR: FEATURE() should be before MAILER()\n"},
		{name: "dnsbl without argument", mc: head + "FEATURE(`dnsbl')dnl\n", stderr: "*** ERROR: missing argument for FEATURE(`dnsbl')"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := Compile("t.mc", strings.NewReader(tc.mc), &out, CompileOptions{Stderr: &errb, Open: refuseSendmailCf})
			if (err != nil) != tc.fail {
				t.Fatalf("Compile error = %v, want failure %v", err, tc.fail)
			}
			if tc.fail && !errors.Is(err, ErrReported) {
				t.Errorf("error %v does not wrap ErrReported", err)
			}
			if d := cmp.Diff(tc.stderr, errb.String()); d != "" {
				t.Errorf("stderr (-want +got):\n%s", d)
			}
		})
	}
}

func TestApplyDiff(t *testing.T) {
	got, err := applyDiff("a\nb\nc\nd\n", "@@ -2,2 +2,2 @@\n-b\n+B\n c\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\nB\nc\nd\n"; got != want {
		t.Errorf("applyDiff = %q, want %q", got, want)
	}
}

func TestCfLines(t *testing.T) {
	cf := "# c\nV10/Berkeley\nDZ8.17.1.9\nMlocal, P=x,\n\t\tA=y\nSfoo\nR$*\t$@ x\n\nCwlocalhost\nCwlocalhost\n"
	want := []string{"Cwlocalhost", "Cwlocalhost", "Mlocal, P=x,\n\t\tA=y", "V10/Berkeley"}
	if d := cmp.Diff(want, cfLines(cf)); d != "" {
		t.Errorf("cfLines (-want +got):\n%s", d)
	}
}

func BenchmarkCompileDebian(b *testing.B) {
	p := filepath.Join(cfData, "full", "debian-default.mc")
	text := mcText(b, p)
	b.ReportAllocs()
	for b.Loop() {
		if err := Compile(p, strings.NewReader(text), io.Discard, CompileOptions{Open: refuseSendmailCf}); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzCompile(f *testing.F) {
	f.Add("divert(-1)dnl\ninclude(`/usr/share/sendmail/cf/m4/cf.m4')dnl\ndivert(0)dnl\nOSTYPE(`linux')dnl\nMAILER(`local')dnl\n")
	f.Add("include(`../m4/cf.m4')FEATURE(`access_db', `hash -o x')define(`confLOG_LEVEL', `define(`x', `x')x')")
	f.Fuzz(func(t *testing.T, mc string) {
		var out bytes.Buffer
		_ = Compile("fuzz.mc", strings.NewReader(mc), &out, CompileOptions{
			Stderr: io.Discard,
			Open: func(name string) (io.ReadCloser, error) {
				return nil, fmt.Errorf("no files in fuzzing: %s", name)
			},
		})
	})
}
