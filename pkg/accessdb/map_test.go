// SPDX-License-Identifier: MIT

package accessdb

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"mailsuite/pkg/bdb"
)

// openVector opens testdata/makemap/<name>.db, skipping while pkg/bdb
// cannot read hash files yet.
func openVector(t *testing.T, name string, opts DBOptions) *DBMap {
	t.Helper()
	// The checkout may sit below a sticky, world-writable directory such
	// as /tmp (CI clones anywhere); these tests are about lookups, not
	// about the directory checks, which have tests of their own.
	opts.DontBlameSendmail = append(opts.DontBlameSendmail, "TrustStickyBit")
	m, err := OpenDB(filepath.Join("testdata", "makemap", name), opts)
	if errors.Is(err, bdb.ErrUnsupported) {
		t.Skipf("pkg/bdb cannot read %s yet: %v", name, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

var elided = regexp.MustCompile(`^(.*)\.\.\.<(\d+) bytes>$`)

// TestDBMapLookups feeds the keys of lookups.tsv (what the real sendmail
// 8.17 returned through "/map NAME key" in -bt mode) to DBMap.
func TestDBMapLookups(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "makemap", "lookups.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	maps := map[string]*DBMap{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	n := 0
	for sc.Scan() {
		cols := strings.SplitN(sc.Text(), "\t", 3)
		if len(cols) != 3 {
			t.Fatalf("bad line %q", sc.Text())
		}
		name, key, want := cols[0], cols[1], cols[2]
		n++
		t.Run(name+"/"+key, func(t *testing.T) {
			m := maps[name]
			if m == nil {
				file, opts := name, DBOptions{}
				if name == "mixed_f_nofold" {
					file, opts = "mixed_f", DBOptions{NoFoldCase: true}
				}
				m = openVector(t, file, opts)
				maps[name] = m
			}
			got, ok, err := m.Lookup(key)
			if err != nil {
				t.Fatal(err)
			}
			switch sm := elided.FindStringSubmatch(want); {
			case want == "NOTFOUND":
				if ok {
					t.Errorf("found %q, sendmail found nothing", got)
				}
			case !ok:
				t.Errorf("not found, sendmail returned %q", want)
			case sm != nil:
				size, _ := strconv.Atoi(sm[2])
				if !strings.HasPrefix(got, sm[1]) || len(got) != size {
					t.Errorf("got %d bytes %.60q…, want %d bytes starting %q", len(got), got, size, sm[1])
				}
			case got != want:
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
	if n < 50 {
		t.Fatalf("only %d lookups read", n)
	}
}

// TestDBMapKeyRules covers the K-line flags the vectors do not.
func TestDBMapKeyRules(t *testing.T) {
	t.Run("-N tries only the NUL form", func(t *testing.T) {
		m := openVector(t, "small_N", DBOptions{IncludeNull: true})
		if v, ok, _ := m.Lookup("Connect:10.0.0"); !ok || v != "RELAY" {
			t.Errorf("got %q %v", v, ok)
		}
		plain := openVector(t, "small", DBOptions{IncludeNull: true})
		if v, ok, _ := plain.Lookup("Connect:10.0.0"); ok {
			t.Errorf("-N map found the key without NUL: %q", v)
		}
	})
	t.Run("-O never tries the NUL form", func(t *testing.T) {
		m := openVector(t, "small_N", DBOptions{NoTryNull: true})
		if v, ok, _ := m.Lookup("Connect:10.0.0"); ok {
			t.Errorf("-O map found a NUL-terminated key: %q", v)
		}
	})
	t.Run("-m returns the key and -a appends", func(t *testing.T) {
		m := openVector(t, "small", DBOptions{MatchOnly: true, Append: ".x"})
		if v, ok, _ := m.Lookup("CONNECT:10.0.0"); !ok || v != "CONNECT:10.0.0.x" {
			t.Errorf("got %q %v", v, ok)
		}
	})
	t.Run("a hit without NUL stops NUL tries", func(t *testing.T) {
		m := openVector(t, "small", DBOptions{})
		if _, ok, _ := m.Lookup("connect:10.0.0"); !ok {
			t.Fatal("miss")
		}
		if m.try1.Load() {
			t.Error("sendmail clears MF_TRY1NULL after a hit without NUL")
		}
	})
	t.Run("-o missing file", func(t *testing.T) {
		m, err := OpenDB(filepath.Join(t.TempDir(), "nothere"), DBOptions{Optional: true, DontBlameSendmail: []string{"TrustStickyBit"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := m.Lookup("x"); ok || err != nil {
			t.Errorf("optional missing map: %v %v", ok, err)
		}
		if _, err := OpenDB(filepath.Join(t.TempDir(), "nothere"), DBOptions{DontBlameSendmail: []string{"TrustStickyBit"}}); err == nil {
			t.Error("a missing map without -o must fail")
		}
	})
	t.Run("reopen after makemap replaces the file", func(t *testing.T) {
		dir := t.TempDir()
		copyFile(t, filepath.Join("testdata", "makemap", "small.db"), filepath.Join(dir, "access.db"))
		m, err := OpenDB(filepath.Join(dir, "access"), DBOptions{DontBlameSendmail: []string{"TrustStickyBit"}})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if _, ok, _ := m.Lookup("connect:10.0.0"); !ok {
			t.Fatal("miss before replace")
		}
		copyFile(t, filepath.Join("testdata", "makemap", "mixed.db"), filepath.Join(dir, "access.db.new"))
		if err := os.Rename(filepath.Join(dir, "access.db.new"), filepath.Join(dir, "access.db")); err != nil {
			t.Fatal(err)
		}
		if v, ok, _ := m.Lookup("Mixed.Case.Key"); !ok || v != "Value Keeps Its Case" {
			t.Errorf("after replace: %q %v", v, ok)
		}
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMemMapKeys(t *testing.T) {
	long := strings.Repeat("d", 256)
	m := NewMemMap(map[string]string{"Mixed.Case": "v", long: "p", strings.Repeat("c", 257): "never"})
	for _, tt := range []struct {
		key  string
		want string
		ok   bool
	}{
		{"mixed.case", "v", true},
		{"MIXED.CASE", "v", true},
		{strings.Repeat("d", 300), "p", true}, // cut to 256 bytes, as sendmail -bt showed
		{strings.Repeat("c", 257), "", false},
	} {
		v, ok, _ := m.Lookup(tt.key)
		if v != tt.want || ok != tt.ok {
			t.Errorf("Lookup(%.20q…) = %q %v, want %q %v", tt.key, v, ok, tt.want, tt.ok)
		}
	}
}

// TestCheckerOverDB runs a check through the real mixed.db vector.
func TestCheckerOverDB(t *testing.T) {
	c := &Checker{Map: openVector(t, "mixed", DBOptions{}), Skip: true, TempFail: true}
	r, err := c.Connect("mail.spam.example.com", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Key != "Connect:spam.example.com" || r.RHS.Kind != Error {
		t.Fatalf("got %+v", r)
	}
	if got, _ := c.Reply(CheckRelay, r.RHS, ""); got != "550 5.0.0 We don't accept mail from spammers" {
		t.Errorf("reply %q", got)
	}
	r, err = c.From("<x@Example.NET>")
	if err != nil {
		t.Fatal(err)
	}
	if r.Key != "From:Example.NET" || r.RHS.Kind != Discard {
		t.Errorf("got %+v", r)
	}
}

// TestDBMapUnsafeDir checks the directory rule for map files (compared
// with sendmail by TestDBMapUnsafeAgainstSendmail).
func TestDBMapUnsafeDir(t *testing.T) {
	base := t.TempDir()
	for _, tt := range []struct {
		mode os.FileMode
		dbs  []string
		want string // "" for no error
	}{
		// t.TempDir is below /tmp (1777): TrustStickyBit is needed for it.
		{0o755, []string{"TrustStickyBit"}, ""},
		{0o755, nil, "World writable directory"},
		{0o777, []string{"TrustStickyBit"}, "World writable directory"},
		{0o777 | os.ModeSticky, []string{"TrustStickyBit"}, ""},
		{0o775, []string{"TrustStickyBit"}, "Group writable directory"},
		{0o775, []string{"TrustStickyBit", "groupwritabledirpathsafe"}, ""},
		{0o777, []string{"MapInUnsafeDirPath"}, ""},
	} {
		d, err := os.MkdirTemp(base, "d")
		if err != nil {
			t.Fatal(err)
		}
		copyFile(t, filepath.Join("testdata", "makemap", "small.db"), filepath.Join(d, "access.db"))
		if err := os.Chmod(d, tt.mode); err != nil {
			t.Fatal(err)
		}
		m, err := OpenDB(filepath.Join(d, "access"), DBOptions{DontBlameSendmail: tt.dbs})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v %v: %v", tt.mode, tt.dbs, err)
		case tt.want != "" && (err == nil || !errors.Is(err, ErrUnsafe) || !strings.HasSuffix(err.Error(), tt.want)):
			t.Errorf("%v %v: got %v, want %q", tt.mode, tt.dbs, err, tt.want)
		}
		if m != nil {
			m.Close()
		}
	}
}
