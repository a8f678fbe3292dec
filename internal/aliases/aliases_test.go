// SPDX-License-Identifier: MIT

package aliases

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/maillog"
	"mailsuite/internal/testutil"
	"mailsuite/pkg/bdb"
)

// TestParse pins what the real newaliases (sendmail 8.17.1.9) stored and
// printed for testdata/tricky.aliases (probed with makemap -u).
func TestParse(t *testing.T) {
	f, err := os.Open("testdata/tricky.aliases")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, errs := Parse(f, "F")
	want := map[string]string{
		"dup": "b", "a": "x,", "c": `"a, b", d`, "d": "e", "e": "f", "f": "g  ", `"g h"`: "i",
		"upper": "Mixed@Example.COM", "j": "<unbalanced", "z": "b", "back": "a  b", "q": "a", "r": `"unterminated`,
	}
	m := map[string]string{}
	for _, a := range got {
		m[a.Name] = a.Value
	}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	wantErrs := []string{
		"F: line 1: Non-continuation line starts with space",
		"F: line 3: dup... Warning: duplicate alias name dup",
		"F: line 19: Non-continuation line starts with space",
		"F: line 21: s:\t ... missing value for alias",
	}
	if d := cmp.Diff(wantErrs, msgs); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"missing colon", "a: b\nnocolon\n", "F: line 2: missing colon"},
		{"empty value", "x: y\n\nempty:\n", "F: line 3: empty:... missing value for alias"},
		{"non-local", "x@y: a\n", "F: line 1: x@y... cannot alias non-local names"},
		{"line numbers after continuation", "a: b,\n c,\n d\nbad\n", "F: line 4: missing colon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := Parse(strings.NewReader(tc.in), "F")
			if len(errs) != 1 || errs[0].Error() != tc.want {
				t.Errorf("errors %v, want [%s]", errs, tc.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	for in, want := range map[string][]string{
		`a, b,c`:                 {"a", "b", "c"},
		`"a, b", d`:              {`"a, b"`, "d"},
		`A <a@x>, (c, d) e`:      {"A <a@x>", "(c, d) e"},
		`"|/bin/cat, x", /f , `:  {`"|/bin/cat, x"`, "/f"},
		"x,\ty,  z":              {"x", "y", "z"},
		`\b, :include:/etc/list`: {`\b`, ":include:/etc/list"},
	} {
		if d := cmp.Diff(want, Split(in)); d != "" {
			t.Errorf("Split(%q): %s", in, d)
		}
	}
}

// records reads every record of a hash file.
func records(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := bdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := map[string]string{}
	if err := db.Walk(func(k, v []byte) error { m[string(k)] = string(v); return nil }); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestNewaliasesDifferential runs the real "sendmail -bi" (in a private
// mount and UTS namespace with a loopback resolver) and Newaliases on the
// same files and compares stdout, the exit status and every record of
// the two aliases.db files.
func TestNewaliasesDifferential(t *testing.T) {
	testutil.RequireRoot(t, "sendmail -bi runs as root in a mount namespace")
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	cf := filepath.Join(testutil.SharedTestdata(t, "mc"), "base.cf")
	for _, name := range []string{"anchor", "mixed", "tricky"} {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", name+".aliases"))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			theirs, ours := filepath.Join(dir, "theirs", "aliases"), filepath.Join(dir, "ours", "aliases")
			for _, p := range []string{theirs, ours} {
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, src, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "hosts"), []byte("127.0.0.1 mail.hamap.local mail localhost\n"), 0o644)
			script := fmt.Sprintf("mount --bind %[1]s/resolv.conf /etc/resolv.conf && mount --bind %[1]s/hosts /etc/hosts && hostname mail.hamap.local && exec %[2]s -C %[3]s -O AliasFile=%[4]s -O DontBlameSendmail=TrustStickyBit,GroupWritableDirPathSafe -bi",
				dir, sendmail, cf, theirs)
			cmd := exec.Command(unshare, "-m", "-u", "sh", "-c", script)
			cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			err = cmd.Run()
			wantCode := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				wantCode = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			code := Newaliases([]string{ours}, &got, io.Discard, nil, "root")
			norm := func(s, p string) string { return strings.ReplaceAll(s, p, "<file>") }
			if d := cmp.Diff(norm(stdout.String(), theirs), norm(got.String(), ours)); d != "" {
				t.Errorf("stdout (-sendmail +ours):\n%s", d)
			}
			if code != wantCode {
				t.Errorf("exit %d, sendmail %d", code, wantCode)
			}
			want := records(t, theirs+".db")
			if len(want) < 2 {
				t.Fatalf("sendmail wrote %d records", len(want))
			}
			if d := cmp.Diff(want, records(t, ours+".db")); d != "" {
				t.Errorf("records (-sendmail +ours):\n%s", d)
			}
			fi, err := os.Stat(ours + ".db")
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %v", fi.Mode().Perm())
			}
			// makemap -u reads ours too.
			if mm, err := exec.LookPath("makemap"); err == nil {
				out, err := exec.Command(mm, "-u", "hash", ours+".db").Output()
				if err != nil {
					t.Fatalf("makemap -u: %v\n%s", err, out)
				}
				lines := strings.Split(strings.TrimSpace(string(out)), "\n")
				if len(lines) != len(want) {
					t.Errorf("makemap -u lists %d records, want %d", len(lines), len(want))
				}
			}
		})
	}
}

func TestDBLookup(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "aliases")
	os.WriteFile(p, []byte("Postmaster: root\nlist: a, b\n"), 0o644)
	st, errs, err := Build(p)
	if err != nil || len(errs) != 0 {
		t.Fatal(err, errs)
	}
	if st.String() != "2 aliases, longest 4 bytes, 22 bytes total" {
		t.Errorf("stats %s", st)
	}
	db, err := OpenDB(p + ".db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for k, want := range map[string]string{"postmaster": "root", "list": "a, b", "@": "@"} {
		v, ok, err := db.Lookup(k)
		if err != nil || !ok || v != want {
			t.Errorf("Lookup(%s) = %q %v %v", k, v, ok, err)
		}
	}
	if _, ok, _ := db.Lookup("nobody"); ok {
		t.Error("found nobody")
	}
}

func TestNewaliasesLogAndMaps(t *testing.T) {
	dir := t.TempDir()
	one, two := filepath.Join(dir, "aliases"), filepath.Join(dir, "more")
	os.WriteFile(one, []byte("postmaster: root\nlist: a\n"), 0o644)
	os.WriteFile(two, []byte("list: b\nextra: c\nbroken\n"), 0o644)
	var stdout, stderr, log bytes.Buffer
	l := maillog.New(&log, maillog.Options{Ident: "sendmail", PID: 42, Host: "mail", Now: func() time.Time { return time.Date(2026, 11, 27, 1, 1, 1, 0, time.UTC) }})
	missing := filepath.Join(dir, "missing")
	code := Newaliases([]string{one, "hash:" + two, missing}, &stdout, &stderr, l, "root")
	// Probed: sendmail -bi prints this on stderr and still exits 0 for
	// a missing file.
	if want := "newaliases: cannot open " + missing + ": No such file or directory\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
	if code != 70 {
		t.Errorf("exit %d, want 70 (a line without a colon)", code)
	}
	wantOut := one + ": 2 aliases, longest 4 bytes, 19 bytes total\n" +
		two + ": line 3: missing colon\n" + two + ": 2 aliases, longest 1 bytes, 11 bytes total\n"
	if d := cmp.Diff(wantOut, stdout.String()); d != "" {
		t.Errorf("stdout:\n%s", d)
	}
	wantLog := "Nov 27 01:01:01 mail sendmail[42]: alias database " + one + " rebuilt by root\n" +
		"Nov 27 01:01:01 mail sendmail[42]: " + one + ": 2 aliases, longest 4 bytes, 19 bytes total\n" +
		"Nov 27 01:01:01 mail sendmail[42]: alias database " + two + " rebuilt by root\n" +
		"Nov 27 01:01:01 mail sendmail[42]: " + two + ": 2 aliases, longest 1 bytes, 11 bytes total\n"
	if d := cmp.Diff(wantLog, log.String()); d != "" {
		t.Errorf("log:\n%s", d)
	}
	maps, err := OpenMaps([]string{one, "hash:" + two})
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	for name, want := range map[string]string{"list": "a", "extra": "c", "postmaster": "root"} {
		if v, ok, err := maps.Lookup(name); err != nil || !ok || v != want {
			t.Errorf("Lookup(%s) = %q %v %v, want %q", name, v, ok, err, want)
		}
	}
	if _, ok, _ := maps.Lookup("nobody"); ok {
		t.Error("found nobody")
	}
}

func TestForwardSafety(t *testing.T) {
	home := t.TempDir()
	uid := os.Getuid()
	x := &Expander{
		Lookup:      func(string) (string, bool, error) { return "", false, nil },
		LookupUser:  func(n string) (User, bool, error) { return User{Name: n, Home: home, UID: uid}, true, nil },
		ForwardPath: []string{"$z/.forward"},
	}
	fwd := filepath.Join(home, ".forward")
	os.WriteFile(fwd, []byte("\\u, other\n"), 0o644)
	os.Chmod(fwd, 0o644)
	got, _ := x.Expand("u")
	if len(got) != 2 {
		t.Fatalf("safe .forward not used: %+v", got)
	}
	os.Chmod(fwd, 0o664)
	got, _ = x.Expand("u")
	if len(got) != 1 || got[0].Addr != "u" || got[0].Via != "" {
		t.Errorf("group-writable .forward used: %+v", got)
	}
}
