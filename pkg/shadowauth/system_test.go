// SPDX-License-Identifier: MIT

package shadowauth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Hashes of "secret1" made by libxcrypt (crypt(3) on Debian 12).
const (
	hashSHA512 = "$6$saltsaltsaltsalt$NXMS2OI6Ufjq4XDpaN31J.rSXWdoeeZBT.PGxEUD7OVocQAWn1P0FP4K.47FodnsyKIkqyCjETgMizMVtrcrT."
	hashYes    = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$xK.TYNPZxd2NOjHXzAMNhXrXfCKspvwTX/rlD1mlcg."
)

func writeUsers(t *testing.T, passwd, shadow string) Paths {
	t.Helper()
	dir := t.TempDir()
	p := Paths{Passwd: filepath.Join(dir, "passwd"), Shadow: filepath.Join(dir, "shadow")}
	if err := os.WriteFile(p.Passwd, []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Shadow, []byte(shadow), 0o640); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSystemAuthenticate(t *testing.T) {
	// Day 20000 is 2024-10-04.
	now := func() time.Time { return time.Unix(20000*86400+3600, 0) }
	passwd := strings.Join([]string{
		"root:x:0:0:root:/root:/bin/bash",
		"a:x:1023:1023::/home/a:/bin/bash",
		"b:x:1024:1024::/home/b:/bin/bash",
		"locked:x:1025:1025::/home/locked:/bin/sh",
		"nopw:x:1026:1026::/home/nopw:/bin/sh",
		"expired:x:1027:1027::/home/expired:/bin/sh",
		"mustchange:x:1028:1028::/home/mustchange:/bin/sh",
		"aged:x:1029:1029::/home/aged:/bin/sh",
		"inpasswd:" + hashSHA512 + ":1030:1030::/home/inpasswd:/bin/sh",
		"noshadow:x:1031:1031::/home/noshadow:/bin/sh",
		"broken:x:notanumber:1::/:/bin/sh",
		"",
	}, "\n")
	shadow := strings.Join([]string{
		"root:*:19000:0:99999:7:::",
		"a:" + hashYes + ":19990:0:99999:7:::",
		"b:" + hashSHA512 + ":19990:0:99999:7:::",
		"locked:!" + hashSHA512 + ":19990:0:99999:7:::",
		"nopw::19990:0:99999:7:::",
		"expired:" + hashSHA512 + ":19990:0:99999:7::20000:",
		"mustchange:" + hashSHA512 + ":0:0:99999:7:::",
		"aged:" + hashSHA512 + ":19900:0:90:7:::",
		"",
	}, "\n")
	s := &System{Paths: writeUsers(t, passwd, shadow), Now: now}
	tests := []struct {
		user, pw string
		want     error
		uid      int
	}{
		{"a", "secret1", nil, 1023},
		{"b", "secret1", nil, 1024},
		{"b", "secret2", ErrMismatch, 0},
		{"B", "secret1", ErrNotFound, 0},
		{"nobody", "secret1", ErrNotFound, 0},
		{"root", "secret1", ErrLocked, 0},
		{"locked", "secret1", ErrLocked, 0},
		{"nopw", "", ErrLocked, 0},
		{"expired", "secret1", ErrExpired, 0},
		{"mustchange", "secret1", ErrExpired, 0},
		{"aged", "secret1", ErrExpired, 0},
		{"inpasswd", "secret1", nil, 1030},
		{"noshadow", "secret1", ErrNotFound, 0},
		{"broken", "secret1", ErrNotFound, 0},
	}
	for _, tt := range tests {
		t.Run(tt.user+"/"+tt.pw, func(t *testing.T) {
			u, err := s.Authenticate(tt.user, tt.pw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Authenticate(%q) error = %v, want %v", tt.user, err, tt.want)
			}
			if err == nil && u.UID != tt.uid {
				t.Errorf("uid = %d, want %d", u.UID, tt.uid)
			}
		})
	}
	// The day before expiry the account still works.
	s.Now = func() time.Time { return time.Unix(19999*86400, 0) }
	if _, err := s.Authenticate("expired", "secret1"); err != nil {
		t.Errorf("day before expiry: %v", err)
	}
}

func TestDefaultPaths(t *testing.T) {
	t.Setenv("MAILSUITE_PASSWD", "")
	t.Setenv("MAILSUITE_SHADOW", "")
	if got, want := DefaultPaths(), (Paths{"/etc/passwd", "/etc/shadow"}); got != want {
		t.Errorf("DefaultPaths() = %v, want %v", got, want)
	}
	t.Setenv("MAILSUITE_PASSWD", "/x/passwd")
	t.Setenv("MAILSUITE_SHADOW", "/x/shadow")
	if got, want := DefaultPaths(), (Paths{"/x/passwd", "/x/shadow"}); got != want {
		t.Errorf("DefaultPaths() = %v, want %v", got, want)
	}
}

func TestParseLines(t *testing.T) {
	u, err := ParsePasswdLine("b:x:1024:100:Bee,,,:/home/b:/bin/bash")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(User{Name: "b", Password: "x", UID: 1024, GID: 100, Gecos: "Bee,,,", Home: "/home/b", Shell: "/bin/bash"}, u); diff != "" {
		t.Errorf("passwd (-want +got):\n%s", diff)
	}
	s, err := ParseShadowLine("b:$6$x$y:19990:0:99999:7:::")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Shadow{Name: "b", Hash: "$6$x$y", LastChange: 19990, Min: 0, Max: 99999, Warn: 7, Inactive: -1, Expire: -1}, s); diff != "" {
		t.Errorf("shadow (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "a:x:1", "a:x:-1:0:::", ":x:1:1:::", "a:x:1:g:::"} {
		if _, err := ParsePasswdLine(bad); err == nil {
			t.Errorf("ParsePasswdLine(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "a:x", "a:x:z::::::", ":x:::::::"} {
		if _, err := ParseShadowLine(bad); err == nil {
			t.Errorf("ParseShadowLine(%q) accepted", bad)
		}
	}
}

func TestPasswdFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	content := "# Dovecot users\n" +
		"vuser@example.com:{PLAIN}secret1:1002:1002::/tmp/dvt/vhome/vuser::\n" +
		"vsha@example.com:{SHA512-CRYPT}" + hashSHA512 + ":1002:1002::/tmp/dvt/vhome/vsha::\n" +
		"vraw@example.com:" + hashSHA512 + ":1002:1002::/tmp/dvt/vhome/vraw::\n" +
		"vextra@example.com:{PLAIN}secret1:1002:1002::/tmp/dvt/vhome/vextra::userdb_mail=maildir:~/Maildir userdb_quota_rule= nopassword\n" +
		"short:{PLAIN}pw\n" +
		"vuser@example.com:{PLAIN}second:1:1::/::\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	pf := &PasswdFile{Path: path}
	for _, tt := range []struct {
		user, pw string
		want     error
	}{
		{"vuser@example.com", "secret1", nil},
		{"vuser@example.com", "second", ErrMismatch}, // the first line wins
		{"vsha@example.com", "secret1", nil},
		{"vraw@example.com", "secret1", nil}, // scheme= default CRYPT
		{"vextra@example.com", "secret1", nil},
		{"short", "pw", nil},
		{"VUSER@example.com", "secret1", ErrNotFound},
	} {
		if _, err := pf.Authenticate(tt.user, tt.pw); !errors.Is(err, tt.want) {
			t.Errorf("Authenticate(%q, %q) = %v, want %v", tt.user, tt.pw, err, tt.want)
		}
	}
	e, _ := pf.Lookup("vextra@example.com")
	if v, ok := e.ExtraField("userdb_mail"); !ok || v != "maildir:~/Maildir" {
		t.Errorf("userdb_mail = %q, %v", v, ok)
	}
	// An empty value reads as "yes", as Dovecot gives it.
	if v, ok := e.ExtraField("userdb_quota_rule"); !ok || v != "yes" {
		t.Errorf("userdb_quota_rule = %q, %v", v, ok)
	}
	if v, ok := e.ExtraField("nopassword"); !ok || v != "yes" {
		t.Errorf("nopassword = %q, %v", v, ok)
	}
	if e.Home != "/tmp/dvt/vhome/vextra" || e.UID != "1002" {
		t.Errorf("entry = %+v", e)
	}
	// An edit is seen without a reload.
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(path, []byte("new@example.com:{PLAIN}pw2:1:1::/::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pf.Authenticate("new@example.com", "pw2"); err != nil {
		t.Errorf("after edit: %v", err)
	}
	if _, err := pf.Lookup("vuser@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removed user still found: %v", err)
	}
}

func FuzzParseLines(f *testing.F) {
	for _, s := range []string{"b:x:1024:100:Bee,,,:/home/b:/bin/bash", "b:$6$x$y:19990:0:99999:7:::", "u:{PLAIN}p:1:1::/h::a=b c", "::::", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if u, err := ParsePasswdLine(line); err == nil && (u.Name == "" || u.UID < 0) {
			t.Errorf("ParsePasswdLine(%q) = %+v", line, u)
		}
		ParseShadowLine(line)
		if e, err := ParsePasswdFileLine(line); err == nil {
			e.ExtraField("userdb_mail")
		}
	})
}
