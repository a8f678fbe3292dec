// SPDX-License-Identifier: MIT

package aliases

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testExpander(t *testing.T, src string, files map[string]string) *Expander {
	t.Helper()
	entries, errs := Parse(strings.NewReader(src), "aliases")
	for _, e := range errs {
		t.Fatal(e)
	}
	m := map[string]string{}
	for _, a := range entries {
		m[a.Name] = a.Value
	}
	users := map[string]User{"root": {Name: "root", Home: "/root"}, "a": {Name: "a", Home: "/home/a"}, "b": {Name: "b", Home: "/home/b"}, "c": {Name: "c", Home: "/home/c"}}
	return &Expander{
		Lookup: func(n string) (string, bool, error) { v, ok := m[n]; return v, ok, nil },
		LookupUser: func(n string) (User, bool, error) {
			u, ok := users[n]
			return u, ok, nil
		},
		IsLocal: func(d string) bool {
			return strings.EqualFold(d, "hamap.local") || strings.EqualFold(d, "mail.hamap.local")
		},
		ForwardPath: []string{"$z/.forward.$w", "$z/.forward"},
		Hostname:    "mail",
		ReadFile: func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, os.ErrNotExist
		},
	}
}

func TestExpand(t *testing.T) {
	src := `postmaster: root
list: a, b, c
self: b, c
b: b, c
loop1: loop2
loop2: loop1, a
prog: "|/usr/bin/vacation b"
file: /var/log/mail.copy
inc: :include:/etc/mail/inc.list
owner-staff: a
staff: b, remote@outside.example
back: \c, a
deep1: deep2
deep2: deep3
deep3: deep4
deep4: deep5
deep5: deep6
deep6: deep7
deep7: deep8
deep8: deep9
deep9: deep10
deep10: deep11
deep11: deep12
deep12: a
nested: list, a
`
	files := map[string]string{
		"/etc/mail/inc.list":    "# members\na, remote@outside.example\nc\n",
		"/home/c/.forward":      "\\c, remote2@outside.example\n",
		"/home/a/.forward.mail": "# host-specific forward\nb\n",
	}
	x := testExpander(t, src, files)
	mb := func(u, via string) Target { return Target{Kind: Mailbox, Addr: u, Via: via} }
	for _, tc := range []struct {
		addr string
		want []Target
		err  string
	}{
		{"postmaster", []Target{mb("root", "postmaster")}, ""},
		{"<postmaster@hamap.local>", []Target{mb("root", "postmaster")}, ""},
		{"b", []Target{mb("b", "b"), mb("c", "/home/c/.forward"), {Kind: Remote, Addr: "remote2@outside.example", Via: "/home/c/.forward"}}, ""},
		{"loop1", []Target{mb("b", "b"), mb("c", "/home/c/.forward"), {Kind: Remote, Addr: "remote2@outside.example", Via: "/home/c/.forward"}}, ""},
		{"prog", []Target{{Kind: Program, Addr: "/usr/bin/vacation b", Via: "prog"}}, ""},
		{"file", []Target{{Kind: File, Addr: "/var/log/mail.copy", Via: "file"}}, ""},
		{"inc", []Target{mb("b", "b"), mb("c", "/home/c/.forward"), {Kind: Remote, Addr: "remote2@outside.example", Via: "/home/c/.forward"}, {Kind: Remote, Addr: "remote@outside.example", Via: ":include:/etc/mail/inc.list"}}, ""},
		{"staff", []Target{{Kind: Mailbox, Addr: "b", Via: "b", Owner: "owner-staff"}, {Kind: Mailbox, Addr: "c", Via: "/home/c/.forward", Owner: "owner-staff"}, {Kind: Remote, Addr: "remote2@outside.example", Via: "/home/c/.forward", Owner: "owner-staff"}, {Kind: Remote, Addr: "remote@outside.example", Via: "staff", Owner: "owner-staff"}}, ""},
		{"back", []Target{mb("c", "back"), mb("b", "b")}, ""},
		{`\b`, []Target{mb("b", "")}, ""},
		{"x@outside.example", []Target{{Kind: Remote, Addr: "x@outside.example"}}, ""},
		{"nobody", nil, "nobody... User unknown"},
		{"deep1", nil, "aliasing/forwarding loop broken (11 aliases deep; 10 max)"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			got, errs := x.Expand(tc.addr)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("targets (-want +got):\n%s", d)
			}
			var msg string
			if len(errs) > 0 {
				msg = errs[0].Error()
			}
			if msg != tc.err {
				t.Errorf("errors %v, want %q", errs, tc.err)
			}
		})
	}
	_, errs := x.Expand("nobody")
	if len(errs) != 1 || !errors.Is(errs[0], ErrUserUnknown) {
		t.Errorf("nobody: %v", errs)
	}
}

// FuzzAliases checks that Parse never panics, reports only errors with
// a line inside the input, and that every entry's name is lower-case
// and its value non-blank.
func FuzzAliases(f *testing.F) {
	for _, p := range []string{"testdata/tricky.aliases", "testdata/mixed.aliases", "testdata/anchor.aliases"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("a: b\\\n")
	f.Add("\"x:\": y\n<a:b>: c\n")
	f.Fuzz(func(t *testing.T, in string) {
		entries, errs := Parse(strings.NewReader(in), "f")
		lines := strings.Count(in, "\n") + 1
		for _, e := range errs {
			if e.Line < 1 || e.Line > lines {
				t.Fatalf("error line %d outside 1..%d: %v", e.Line, lines, e)
			}
		}
		for _, a := range entries {
			if a.Name == "" || strings.TrimSpace(a.Value) == "" || a.Line < 1 || a.Line > lines {
				t.Fatalf("bad entry %+v", a)
			}
			if a.Name != strings.ToLower(a.Name) {
				t.Fatalf("name not lower-cased: %q", a.Name)
			}
		}
		for _, a := range entries {
			Split(a.Value)
		}
	})
}

func TestExists(t *testing.T) {
	x := testExpander(t, "list: a, b\nloop1: loop2\nloop2: loop1\nghost: nobody\n", nil)
	for name, want := range map[string]bool{"a": true, "list": true, "nobody": false, "loop1": false, "ghost": false} {
		got, err := x.Exists(context.Background(), name)
		if err != nil || got != want {
			t.Errorf("Exists(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	broken := errors.New("disk on fire")
	x.Lookup = func(string) (string, bool, error) { return "", false, broken }
	if _, err := x.Exists(context.Background(), "a"); !errors.Is(err, broken) {
		t.Errorf("lookup failure: %v", err)
	}
}

// TestExpandCtl checks the controlling user of program and file
// targets, sendmail's ctladdr: the owner of the first .forward or
// :include: file on the way down, none for the aliases file itself.
func TestExpandCtl(t *testing.T) {
	src := "prog: \"|/usr/bin/vacation b\"\nrootinc: :include:/etc/mail/root.list\ncinc: :include:/etc/mail/c.list\n"
	files := map[string]string{
		"/home/b/.forward":    "\\b, \"|/usr/bin/vacation b\", :include:/etc/mail/b.list\n",
		"/etc/mail/b.list":    "/var/log/b.copy\n",
		"/etc/mail/root.list": "|/bin/root-prog\n",
		"/etc/mail/c.list":    "/var/log/c.copy\n",
	}
	owners := map[string][2]int{
		"/home/b/.forward": {1024, 1024}, "/etc/mail/b.list": {0, 0},
		"/etc/mail/root.list": {0, 0}, "/etc/mail/c.list": {1025, 50},
	}
	x := testExpander(t, src, files)
	x.Stat = func(p string) (int, int, error) {
		o, ok := owners[p]
		if !ok {
			return 0, 0, os.ErrNotExist
		}
		return o[0], o[1], nil
	}
	x.LookupUID = func(uid int) (User, bool, error) {
		switch uid {
		case 0:
			return User{Name: "root"}, true, nil
		case 1025:
			return User{Name: "c"}, true, nil
		}
		return User{}, false, nil
	}
	b := &Ctl{Name: "b", UID: 1024, GID: 1024}
	for _, tc := range []struct {
		addr string
		want []Target
	}{
		{"prog", []Target{{Kind: Program, Addr: "/usr/bin/vacation b", Via: "prog"}}},
		{"b", []Target{{Kind: Mailbox, Addr: "b", Via: "/home/b/.forward"},
			{Kind: Program, Addr: "/usr/bin/vacation b", Via: "/home/b/.forward", Ctl: b},
			{Kind: File, Addr: "/var/log/b.copy", Via: ":include:/etc/mail/b.list", Ctl: b}}},
		{"rootinc", []Target{{Kind: Program, Addr: "/bin/root-prog", Via: ":include:/etc/mail/root.list", Ctl: &Ctl{Name: "root"}}}},
		{"cinc", []Target{{Kind: File, Addr: "/var/log/c.copy", Via: ":include:/etc/mail/c.list", Ctl: &Ctl{Name: "c", UID: 1025, GID: 50}}}},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			got, errs := x.Expand(tc.addr)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("targets (-want +got):\n%s", d)
			}
		})
	}
}
