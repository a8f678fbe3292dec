// SPDX-License-Identifier: MIT

package aliases

import (
	"bytes"
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

// bvAddrs are the addresses both expansions resolve.
var bvAddrs = []string{"postmaster", "list", "b", "loop1", "prog", "file", "inc", "back", "staff", `\b`, "a@mail.hamap.local", "c", "nested", "quoted",
	"loopx", "selfz", "d1", "d3", "nosuch"}

const bvAliases = `postmaster: root
list: a, b, c
b: b, c
loop1: loop2
loop2: loop1, a
prog: "|/usr/bin/vacation b"
file: /var/log/mail.copy
inc: :include:%[1]s/inc.list
back: \c, a
owner-staff: a
staff: b
nested: list, postmaster, inc
quoted: "a"
loopx: loopy
loopy: loopx
selfz: selfz
d1: d2
d2: d3
d3: d4
d4: d5
d5: d6
d6: d7
d7: d8
d8: d9
d9: d10
d10: d11
d11: d12
d12: d13
d13: a
`

// TestExpandVersusSendmailBv expands the same aliases, :include: list and
// .forward files with the real "sendmail -bv" (as root, in a private
// mount and UTS namespace with its own passwd, hosts and a loopback
// resolver) and with Expander, and compares the final mailboxes,
// programs and files of every address.
func TestExpandVersusSendmailBv(t *testing.T) {
	testutil.RequireRoot(t, "sendmail -bv runs as root in a mount namespace")
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	cf := filepath.Join(testutil.SharedTestdata(t, "mc"), "base.cf")
	dir := t.TempDir()
	// Sendmail reads :include: and .forward files as their owners, who
	// must be able to reach them.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string, uid int) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, -1); err != nil {
			t.Fatal(err)
		}
	}
	sysPasswd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]User{}
	var extra strings.Builder
	for i, n := range []string{"a", "b", "c"} {
		home := filepath.Join(dir, "home", n)
		users[n] = User{Name: n, Home: home, UID: 41023 + i}
		fmt.Fprintf(&extra, "%s:x:%d:%d:%s:%s:/bin/sh\n", n, 41023+i, 41023+i, n, home)
		if err := os.MkdirAll(home, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chown(home, 41023+i, -1)
	}
	users["root"] = User{Name: "root", Home: "/root"}
	write(filepath.Join(dir, "passwd"), string(sysPasswd)+extra.String(), 0)
	write(filepath.Join(dir, "home/c/.forward"), "\\c, b\n", 41025)
	write(filepath.Join(dir, "inc.list"), "# members\na\nc\n", 0)
	write(filepath.Join(dir, "aliases"), fmt.Sprintf(bvAliases, dir), 0)
	write(filepath.Join(dir, "resolv.conf"), "nameserver 127.0.0.1\n", 0)
	write(filepath.Join(dir, "hosts"), "127.0.0.1 mail.hamap.local mail localhost\n", 0)

	var script strings.Builder
	fmt.Fprintf(&script, "mount --bind %[1]s/resolv.conf /etc/resolv.conf && mount --bind %[1]s/hosts /etc/hosts && mount --bind %[1]s/passwd /etc/passwd && hostname mail.hamap.local || exit 1\n", dir)
	fmt.Fprintf(&script, "S='%s -C %s -O AliasFile=%s/aliases -O DontBlameSendmail=TrustStickyBit,GroupWritableDirPathSafe,ForwardFileInUnsafeDirPath,IncludeFileInUnsafeDirPath'\n", sendmail, cf, dir)
	script.WriteString("$S -bi >/dev/null || exit 1\n")
	for _, a := range bvAddrs {
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
	want := parseBv(t, out.String())

	entries, errs := Parse(strings.NewReader(fmt.Sprintf(bvAliases, dir)), "aliases")
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	m := map[string]string{}
	for _, a := range entries {
		m[a.Name] = a.Value
	}
	x := &Expander{
		Lookup:      func(n string) (string, bool, error) { v, ok := m[n]; return v, ok, nil },
		LookupUser:  func(n string) (User, bool, error) { u, ok := users[n]; return u, ok, nil },
		IsLocal:     func(d string) bool { return strings.EqualFold(d, "mail.hamap.local") },
		ForwardPath: []string{"$z/.forward.$w", "$z/.forward"},
		Hostname:    "mail.hamap.local",
	}
	for _, a := range bvAddrs {
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
			if len(want[a]) == 0 {
				t.Fatalf("sendmail printed nothing for %s:\n%s", a, out.String())
			}
			if d := cmp.Diff(want[a], got); d != "" {
				t.Errorf("targets (-sendmail +ours):\n%s", d)
			}
		})
	}
}

func targetKey(t Target) string {
	switch t.Kind {
	case Program:
		return "prog:" + t.Addr
	case File:
		return "file:" + t.Addr
	case Remote:
		return "remote:" + t.Addr
	}
	return "local:" + t.Addr
}

// parseBv reads "x... deliverable: mailer local, user \c" lines per
// "=== addr" block into sorted, de-duplicated target keys ("\c" and "c"
// are one mailbox).
func parseBv(t *testing.T, s string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	seen := map[string]bool{}
	cur := ""
	for _, l := range strings.Split(s, "\n") {
		if a, ok := strings.CutPrefix(l, "=== "); ok {
			cur = a
			continue
		}
		if strings.HasPrefix(l, "aliasing/forwarding loop broken") || strings.HasSuffix(l, "... User unknown") {
			if !seen[cur+"\x00"+l] {
				seen[cur+"\x00"+l] = true
				out[cur] = append(out[cur], "error:"+l)
			}
			continue
		}
		_, rest, ok := strings.Cut(l, "... deliverable: mailer ")
		if !ok {
			continue
		}
		mailer, user, ok := strings.Cut(rest, ", user ")
		if !ok {
			t.Fatalf("unexpected -bv line %q", l)
		}
		var k string
		switch mailer {
		case "local":
			k = "local:" + strings.TrimPrefix(user, "\\")
		case "prog":
			k = "prog:" + strings.TrimPrefix(strings.Trim(user, `"`), "|")
		case "*file*":
			k = "file:" + user
		default:
			k = "remote:" + user
		}
		if seen[cur+"\x00"+k] {
			continue
		}
		seen[cur+"\x00"+k] = true
		out[cur] = append(out[cur], k)
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}
