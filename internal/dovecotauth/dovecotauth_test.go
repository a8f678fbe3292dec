// SPDX-License-Identifier: MIT

package dovecotauth

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/pkg/doveconf"
)

// TestPenalties: anvil's delays for the 1st..5th failure (a repeated
// password not counting), its timeout, success, and IPv6 per /48.
func TestPenalties(t *testing.T) {
	p := NewPenalties()
	ip := netip.MustParseAddr("192.0.2.1")
	now := time.Unix(1e9, 0)
	var got []time.Duration
	for i, pass := range []string{"a", "b", "b", "c", "d", "e"} {
		got = append(got, p.Delay(ip, now))
		p.Fail(ip, pass, now)
		now = now.Add(time.Duration(i+1) * time.Second)
	}
	got = append(got, p.Delay(ip, now.Add(31*time.Second)))
	want := []time.Duration{0, 4 * time.Second, 8 * time.Second, 8 * time.Second, 15 * time.Second, 15 * time.Second, 0}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("delays (-want +got):\n%s", d)
	}
	p.Fail(ip, "x", now)
	p.Succeed(ip)
	if d := p.Delay(ip, now); d != 0 {
		t.Errorf("after success: %v", d)
	}
	p.Fail(netip.MustParseAddr("2001:db8:1:2::5"), "x", now)
	if d := p.Delay(netip.MustParseAddr("2001:db8:1:ffff::9"), now); d != 4*time.Second {
		t.Errorf("same /48: %v", d)
	}
	if d := p.Delay(netip.MustParseAddr("2001:db8:2::5"), now); d != 0 {
		t.Errorf("other /48: %v", d)
	}
	p.Fail(netip.MustParseAddr("::ffff:192.0.2.9"), "x", now)
	if d := p.Delay(netip.MustParseAddr("192.0.2.9"), now); d != 4*time.Second {
		t.Errorf("v4-mapped: %v", d)
	}
}

// TestPasswdFile: the passwd-file passdb/userdb, a missing uid being -1.
func TestPasswdFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "users")
	os.WriteFile(f, []byte("b:{PLAIN}pw:1001:1002::/home/b::\nc:{PLAIN}pw:::::\n"), 0o600)
	a := FromPassdbs([]doveconf.AuthDB{{Driver: "passwd-file", Args: "scheme=PLAIN " + f}})
	u, err := a.Authenticate(context.Background(), "b", "pw")
	if err != nil || u != (User{Name: "b", UID: 1001, GID: 1002, Home: "/home/b"}) {
		t.Errorf("b: %+v %v", u, err)
	}
	if u, err := a.Authenticate(context.Background(), "c", "pw"); err != nil || u.UID != -1 || u.GID != -1 {
		t.Errorf("c: %+v %v", u, err)
	}
	if _, err := a.Authenticate(context.Background(), "b", "no"); err == nil {
		t.Error("wrong password accepted")
	}
	for _, d := range []string{"pam", "shadow", "passwd", ""} {
		dbs := []doveconf.AuthDB{{Driver: d}}
		if d == "" {
			dbs = nil
		}
		if _, ok := FromPassdbs(dbs).(SystemAuth); !ok {
			t.Errorf("passdb %q: %T", d, FromPassdbs(dbs))
		}
	}
}

// TestCheckDropPrivileges: Dovecot's mail-process refusals.
func TestCheckDropPrivileges(t *testing.T) {
	def := GIDRange{First: 1}
	for _, tc := range []struct {
		u    User
		g    GIDRange
		want string
	}{
		{User{UID: 1000, GID: 1000}, def, ""},
		{User{UID: 0, GID: 0}, def, "Mail access not allowed for root"},
		{User{UID: 0, GID: 100}, GIDRange{}, "Mail access not allowed for root"},
		{User{UID: -1, GID: 100}, def, "Couldn't drop privileges: User is missing UID (see mail_uid setting)"},
		{User{UID: 1000, GID: 0}, def, "Mail access for users with GID 0 not permitted (see first_valid_gid in config file, gid from userdb lookup)."},
		{User{UID: 1000, GID: 0}, GIDRange{}, ""},
		{User{UID: 1000, GID: 600}, GIDRange{First: 1, Last: 500}, "Mail access for users with GID 600 not permitted (see first_valid_gid in config file, gid from userdb lookup)."},
	} {
		got := ""
		if err := CheckDropPrivileges(tc.u, tc.g); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%+v %+v: %q, want %q", tc.u, tc.g, got, tc.want)
		}
	}
}
