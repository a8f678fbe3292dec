// SPDX-License-Identifier: MIT

package deliver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"mailsuite/internal/testutil"
	"mailsuite/pkg/cf"
)

func credUsers(t *testing.T) Users {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	group := filepath.Join(dir, "group")
	os.WriteFile(passwd, []byte("root:x:0:0::/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\nmail:x:8:8::/var/mail:/bin/false\n"+
		"b:x:1024:1024::/home/b:/bin/sh\nc:x:1025:1025::/home/c:/bin/sh\n"), 0o644)
	os.WriteFile(group, []byte("root:x:0:\ndaemon:x:1:\nmail:x:8:\nb:x:1024:\nc:x:1025:\nstaff:x:50:b,c\nlists:x:38:mail\n"), 0o644)
	return Users{Passwd: passwd, Group: group}
}

// TestMailerCredential pins sendmail's openmailer choice of ids for the
// prog mailer (no S flag) and the local mailer (S flag).
func TestMailerCredential(t *testing.T) {
	testutil.RequireRoot(t, "credentials are chosen only when running as root")
	u := credUsers(t)
	prog := &cf.Mailer{Name: "prog", Path: "/bin/sh", Flags: "lsDFMoqeu9", Argv: []string{"sh", "-c", "$u"}}
	local := &cf.Mailer{Name: "local", Path: "/usr/bin/procmail", Flags: "lsDFMAw5:/|@qSPfhn9"}
	withU := &cf.Mailer{Name: "prog", Path: "/bin/sh", Flags: "lsDFMoqeu9", User: "c"}
	cases := []struct {
		name string
		m    *cf.Mailer
		ctl  *Controller
		def  string
		want *syscall.Credential
	}{
		{"forward of b", prog, &Controller{Name: "b", UID: 1024, GID: 1024}, "8:8",
			&syscall.Credential{Uid: 1024, Gid: 1024, Groups: []uint32{1024, 50}}},
		{"forward with group staff", prog, &Controller{Name: "b", UID: 1024, GID: 50}, "8:8",
			&syscall.Credential{Uid: 1024, Gid: 50, Groups: []uint32{50}}},
		{"aliases file: DefaultUser", prog, nil, "8:8",
			&syscall.Credential{Uid: 8, Gid: 8, Groups: []uint32{8, 38}}},
		{"root-owned include: DefaultUser", prog, &Controller{Name: "root", UID: 0, GID: 0}, "mail",
			&syscall.Credential{Uid: 8, Gid: 8, Groups: []uint32{8, 38}}},
		{"no DefaultUser: daemon", prog, nil, "",
			&syscall.Credential{Uid: 1, Gid: 1, Groups: []uint32{1}}},
		{"U= user", withU, nil, "8:8",
			&syscall.Credential{Uid: 1025, Gid: 1025, Groups: []uint32{8, 38}}},
		{"S flag keeps root", local, &Controller{Name: "b", UID: 1024, GID: 1024}, "8:8", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := MailerCredential(c.m, c.ctl, c.def, u)
			if (got == nil) != (c.want == nil) || got != nil &&
				(got.Uid != c.want.Uid || got.Gid != c.want.Gid || !equalU32(got.Groups, c.want.Groups)) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestProgramRunsAsController runs a |program as sendmail would for a
// .forward of user b (uid 1024): the program writes its ids to a file.
func TestProgramRunsAsController(t *testing.T) {
	testutil.RequireRoot(t, "the program is started with another uid")
	u := credUsers(t)
	dir := t.TempDir()
	// The program, run as another user, must reach the directory.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777)
	out := filepath.Join(dir, "out")
	prog := &cf.Mailer{Name: "prog", Path: "/bin/sh", Flags: "lsDFMoqeu9", Argv: []string{"sh", "-c", "$u"}}
	for _, c := range []struct {
		ctl  *Controller
		want string
	}{
		{&Controller{Name: "b", UID: 1024, GID: 1024}, "1024 1024 1024 50"},
		{nil, "8 8 8 38"},
	} {
		cred := MailerCredential(prog, c.ctl, "8:8", u)
		p := &Program{Mailer: prog, Sender: "a@hamap.local", User: "echo $(id -u) $(id -g) $(id -G) > " + out,
			SysProcAttr: &syscall.SysProcAttr{Credential: cred}}
		if st := p.Run(context.Background(), strings.NewReader("Subject: x\n\nx\n")); st.Code != ExOK {
			t.Fatalf("run: %+v", st)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); got != c.want {
			t.Errorf("ctl %+v: program ran as %q, want %q", c.ctl, got, c.want)
		}
		os.Remove(out)
	}
}
