// SPDX-License-Identifier: MIT

package aliases

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// TestVirtLookupOrder checks the keys tried, in order, and the %n
// arguments of the entry found, for each shape of address.
func TestVirtLookupOrder(t *testing.T) {
	for _, tc := range []struct {
		local string
		keys  []string
	}{
		{"u", []string{"u@d.test", "@d.test"}},
		{"u+x", []string{"u+x@d.test", "u++@d.test", "u+*@d.test", "u@d.test", "++@d.test", "+*@d.test", "@d.test"}},
		{"u+", []string{"u+@d.test", "u+*@d.test", "u@d.test", "+*@d.test", "@d.test"}},
		{"u+x+y", []string{"u+x+y@d.test", "u++@d.test", "u+*@d.test", "u@d.test", "++@d.test", "+*@d.test", "@d.test"}},
		{"+x", []string{"+x@d.test", "@d.test"}},
	} {
		var tried []string
		r, err := VirtLookup(func(k string) (string, bool, error) { tried = append(tried, k); return "", false, nil }, tc.local, "d.test.")
		if err != nil || r.Found {
			t.Errorf("%s: %+v %v", tc.local, r, err)
		}
		if d := cmp.Diff(tc.keys, tried); d != "" {
			t.Errorf("%s: keys (-want +got):\n%s", tc.local, d)
		}
		// Each key in turn, when it is the one present, gets the
		// arguments of its rule.
		for i, k := range tc.keys {
			r, err := VirtLookup(func(q string) (string, bool, error) { return "%0|%1|%2|%3|%%|%4", q == k, nil }, tc.local, "d.test")
			if err != nil || !r.Found || r.Key != k {
				t.Fatalf("%s %s: %+v %v", tc.local, k, r, err)
			}
			want := k + "|" + tc.local + "|||%|"
			if user, detail, ok := strings.Cut(tc.local, "+"); ok && user != "" && i > 0 {
				want = k + "|" + user + "|" + detail + "|+" + detail + "|%|"
			}
			if r.Addr != want {
				t.Errorf("%s %s: %q, want %q", tc.local, k, r.Addr, want)
			}
		}
	}
}

func TestVirtErrors(t *testing.T) {
	for _, tc := range []struct{ rhs, reply, err string }{
		{"error:nouser User unknown", "553 5.3.0 <x@d.test>... User unknown", "x@d.test... User unknown"},
		{"error:5.7.0:550 Address invalid", "550 5.7.0 <x@d.test>... Address invalid", "x@d.test... Address invalid"},
		{"error:5.2.1:450 Try later", "450 5.2.1 <x@d.test>... Try later", "x@d.test... Try later"},
		{"ERROR:nouser No such person", "553 5.3.0 <x@d.test>... No such person", "x@d.test... No such person"},
	} {
		x := &Expander{
			Lookup:     func(string) (string, bool, error) { return "", false, nil },
			LookupUser: func(string) (User, bool, error) { return User{}, false, nil },
			IsLocal:    func(d string) bool { return d == "d.test" },
			Virtuser:   func(k string) (string, bool, error) { return tc.rhs, k == "x@d.test", nil },
		}
		targets, errs := x.Expand("x@d.test")
		if len(targets) != 0 || len(errs) != 1 {
			t.Fatalf("%s: %v %v", tc.rhs, targets, errs)
		}
		var ve *VirtUserError
		if !errors.As(errs[0], &ve) || ve.Reply() != tc.reply || ve.Error() != tc.err {
			t.Errorf("%s: %v (reply %q), want %q / %q", tc.rhs, errs[0], ve.Reply(), tc.err, tc.reply)
		}
		if errors.Is(errs[0], ErrUserUnknown) != strings.Contains(tc.rhs, "nouser") {
			t.Errorf("%s: ErrUserUnknown mismatch", tc.rhs)
		}
	}
}

// TestVirtuserThenAliases: a local virtusertable result is aliased (as
// sendmail's delivery does: "sales@virt.test... aliased to a, b"); a
// VirtHost domain without an entry stays remote; "\\x" skips the table.
func TestVirtuserThenAliases(t *testing.T) {
	x := virtExpander(map[string]string{"sales@virt.test": "team", "me@virt.test": "a@mail.hamap.local", "a@mail.hamap.local": "b"})
	for addr, want := range map[string][]string{
		"sales@virt.test":       {"local:a", "local:b"},
		"Sales@Virt.Test":       {"local:a", "local:b"},
		"me@virt.test":          {"local:b"},
		"nobody@virt.test":      {"remote:nobody@virt.test"},
		"a@mail.hamap.local":    {"local:b"},
		`\a@mail.hamap.local`:   {"local:a"},
		"b@mail.hamap.local":    {"local:b"},
		"team@mail.hamap.local": {"local:a", "local:b"},
	} {
		targets, errs := x.Expand(addr)
		var got []string
		for _, tg := range targets {
			got = append(got, targetKey(tg))
		}
		sort.Strings(got)
		if len(errs) != 0 || !cmp.Equal(got, want) {
			t.Errorf("%s: %v %v, want %v", addr, got, errs, want)
		}
	}
}

func virtExpander(table map[string]string) *Expander {
	al := map[string]string{"team": "a, b", "postmaster": "root"}
	return &Expander{
		Lookup: func(n string) (string, bool, error) { v, ok := al[n]; return v, ok, nil },
		LookupUser: func(n string) (User, bool, error) {
			ok := n == "a" || n == "b" || n == "root"
			return User{Name: n, Home: "/nonexistent"}, ok, nil
		},
		IsLocal:    func(d string) bool { return strings.EqualFold(d, "mail.hamap.local") },
		IsVirtHost: func(d string) bool { return strings.EqualFold(d, "virt.test") },
		Virtuser: func(k string) (string, bool, error) {
			v, ok := table[strings.ToLower(k)]
			return v, ok, nil
		},
	}
}

// virtTable is the differential test's virtusertable: no right-hand side
// names an alias, since sendmail -bv shows a local result unaliased.
var virtTable = map[string]string{
	"info@virt.test":       "a",
	"x@virt.test":          "someone@remote.example",
	"bad@virt.test":        "error:nouser User unknown",
	"deny@virt.test":       "error:5.7.0:550 Address invalid",
	"@virt.test":           "%1@remote.example",
	"b+*@virt.test":        "b",
	"c+spam@virt.test":     "error:nouser No spam",
	"d@virt.test":          "%1-d%3@remote.example",
	"e++@virt.test":        "%2@remote.example",
	"joe@mail.hamap.local": "b",
	"f@mail.hamap.local":   "info@virt.test",
}

var virtAddrs = []string{"info@virt.test", "x@virt.test", "bad@virt.test", "deny@virt.test", "other@virt.test", "b+foo@virt.test", "b@virt.test",
	"c+spam@virt.test", "c+ham@virt.test", "d@virt.test", "d+x@virt.test", "e+y@virt.test", "joe@mail.hamap.local", "a@mail.hamap.local",
	"Info@Virt.Test", "f@mail.hamap.local"}

// TestVirtuserVersusSendmailBv resolves the same addresses through the
// same virtusertable with the real "sendmail -bv" (cf from m4 with
// FEATURE(virtusertable) and VIRTUSER_DOMAIN, in a private mount and UTS
// namespace with a loopback resolver) and with Expander.
func TestVirtuserVersusSendmailBv(t *testing.T) {
	testutil.RequireRoot(t, "sendmail -bv runs as root in a mount namespace")
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	makemap := testutil.Oracle(t, "makemap", "sendmail-bin")
	m4 := testutil.Oracle(t, "m4", "m4")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	if _, err := os.Stat("/usr/share/sendmail/cf/m4/cf.m4"); err != nil {
		testutil.Oracle(t, "/usr/share/sendmail/cf/m4/cf.m4", "sendmail-cf")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("v.mc", fmt.Sprintf("include(`/usr/share/sendmail/cf/m4/cf.m4')dnl\nOSTYPE(`linux')dnl\n"+
		"define(`confDOMAIN_NAME', `mail.hamap.local')dnl\ndefine(`confDONT_PROBE_INTERFACES', `True')dnl\n"+
		"define(`ALIAS_FILE', `%[1]s/aliases')dnl\ndefine(`QUEUE_DIR', `%[1]s')dnl\ndefine(`confUSERDB_SPEC', `')dnl\n"+
		"define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl\n"+
		"FEATURE(`virtusertable', `hash -o %[1]s/virtusertable')dnl\nVIRTUSER_DOMAIN(`virt.test')dnl\nMAILER(local)dnl\nMAILER(smtp)dnl\n", dir))
	cfText, err := exec.Command(m4, "-D_NO_MAKEINFO_", filepath.Join(dir, "v.mc")).Output()
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	write("v.cf", string(cfText))
	var src strings.Builder
	for k, v := range virtTable {
		fmt.Fprintf(&src, "%s\t%s\n", k, v)
	}
	mm := exec.Command(makemap, "hash", filepath.Join(dir, "virtusertable"))
	mm.Stdin = strings.NewReader(src.String())
	if out, err := mm.CombinedOutput(); err != nil {
		t.Fatalf("makemap: %v\n%s", err, out)
	}
	write("aliases", "postmaster: root\n")
	sysPasswd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	write("passwd", string(sysPasswd)+"a:x:41023:41023::/nonexistent:/bin/sh\nb:x:41024:41024::/nonexistent:/bin/sh\n")
	write("resolv.conf", "nameserver 127.0.0.1\n")
	write("hosts", "127.0.0.1 mail.hamap.local mail localhost\n")

	var script strings.Builder
	fmt.Fprintf(&script, "mount --bind %[1]s/resolv.conf /etc/resolv.conf && mount --bind %[1]s/hosts /etc/hosts && mount --bind %[1]s/passwd /etc/passwd && hostname mail.hamap.local || exit 1\n", dir)
	fmt.Fprintf(&script, "S='%s -C %s/v.cf'\n$S -bi >/dev/null || exit 1\n", sendmail, dir)
	for _, a := range virtAddrs {
		fmt.Fprintf(&script, "printf '=== %%s\\n' '%s'; $S -bv '%s'\n", a, a)
	}
	script.WriteString("exit 0\n")
	cmd := exec.Command(unshare, "-m", "-u", "sh", "-c", script.String())
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out.String())
	}
	want := map[string][]string{}
	cur := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if a, ok := strings.CutPrefix(l, "=== "); ok {
			cur = a
			continue
		}
		if l == "" {
			continue
		}
		if _, rest, ok := strings.Cut(l, "... deliverable: mailer "); ok {
			mailer, user, _ := strings.Cut(rest, ", ")
			user = user[strings.LastIndex(user, "user ")+5:]
			if mailer == "local" {
				want[cur] = append(want[cur], "local:"+user)
			} else {
				want[cur] = append(want[cur], "remote:"+user)
			}
			continue
		}
		want[cur] = append(want[cur], "error:"+l)
	}

	x := virtExpander(virtTable)
	for _, a := range virtAddrs {
		t.Run(a, func(t *testing.T) {
			targets, errs := x.Expand(a)
			var got []string
			for _, tg := range targets {
				got = append(got, targetKey(tg))
			}
			for _, e := range errs {
				got = append(got, "error:"+e.Error())
			}
			sort.Strings(got)
			w := want[a]
			sort.Strings(w)
			if len(w) == 0 {
				t.Fatalf("sendmail printed nothing for %s:\n%s", a, out.String())
			}
			if d := cmp.Diff(w, got); d != "" {
				t.Errorf("(-sendmail +ours):\n%s", d)
			}
		})
	}
}

func FuzzVirtLookup(f *testing.F) {
	f.Add("u+x", "d.test", "%1-%2-%3-%0")
	f.Add("u", "d.test.", "error:5.7.0:550 no")
	f.Add("+", "d", "error:nouser %")
	f.Add("a+b+c", "", "%%%9%")
	f.Fuzz(func(t *testing.T, local, domain, rhs string) {
		r, err := VirtLookup(func(string) (string, bool, error) { return rhs, true, nil }, local, domain)
		if err != nil || !r.Found {
			t.Fatalf("%+v %v", r, err)
		}
		if r.Err != nil {
			_ = r.Err.Reply(local + "@" + domain)
		}
	})
}
