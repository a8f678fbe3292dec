// SPDX-License-Identifier: MIT

package mbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"mailsuite/internal/testutil"
)

// permHelperEnv makes the test binary run permOps on the mail root it
// names instead of tests; with permHelperEnv+"_ID" set to "uid:gid" it
// first becomes that user (the tests run as root).
const permHelperEnv = "MBOX_TEST_PERM_ROOT"

func TestMain(m *testing.M) {
	root, perms := os.LookupEnv(permHelperEnv)
	privDir, priv := os.LookupEnv(privHelperEnv)
	if perms || priv {
		// Started as root (the test binary's directory is root's
		// alone): become the mail user on every thread first.
		var uid, gid int
		if _, err := fmt.Sscanf(os.Getenv(permHelperEnv+"_ID"), "%d:%d", &uid, &gid); err == nil {
			if err := syscall.Setgroups([]int{gid}); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
			if err := syscall.Setresgid(gid, gid, gid); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
			if err := syscall.Setresuid(uid, uid, uid); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
		}
		run := func() error { return permOps(root) }
		if priv {
			run = func() error { return privOps(privDir) }
		}
		if err := run(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// permOps does through Folders what permScript asks real Dovecot to do.
func permOps(root string) error {
	f := &Folders{Root: root, Inbox: filepath.Join(filepath.Dir(root), "inbox")}
	for _, n := range []string{"Work", "dir/sub", "empty/"} {
		if err := f.Create(n); err != nil {
			return err
		}
	}
	if err := f.Subscribe("Work", true); err != nil {
		return err
	}
	mb, err := f.Open(context.Background(), "Work")
	if err != nil {
		return err
	}
	return mb.Close(context.Background())
}

var permScript = []string{"CREATE Work", "CREATE dir/sub", "CREATE empty/", "SUBSCRIBE Work", "SELECT Work"}

// permPaths are the files and directories both create, compared by
// mode and group.
var permPaths = []string{".", "Work", "dir", "dir/sub", "empty", ".subscriptions", ".imap", ".imap/Work", ".imap/dovecot-uidvalidity"}

// TestPermsDovecot: folders, directories, .subscriptions and control
// directories get the modes and group real Dovecot gives them, which
// follow the mail root's (0700, 0755, and a setgid 2770 root whose group
// the user is no member of, when run as root).
func TestPermsDovecot(t *testing.T) {
	bin := testutil.Oracle(t, "/usr/lib/dovecot/imap", "dovecot-imapd")
	uid, gid, group := os.Getuid(), os.Getgid(), os.Getgid()
	if uid == 0 {
		uid, gid, group = 5001, 5001, 5099
	}
	for _, tc := range []struct {
		name  string
		mode  os.FileMode
		group int
	}{
		{"0700", 0o700, gid},
		{"0755", 0o755, gid},
		{"2770", 0o770 | os.ModeSetgid, group},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, err := os.MkdirTemp("", "mboxperm")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(base) })
			os.Chmod(base, 0o755)
			roots := map[string]string{}
			for _, who := range []string{"dovecot", "ours"} {
				dir := filepath.Join(base, who)
				root := filepath.Join(dir, "mail")
				if err := os.MkdirAll(root, 0o755); err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(dir, "inbox"), nil, 0o600)
				if os.Getuid() == 0 {
					for _, p := range []string{dir, filepath.Join(dir, "inbox"), root} {
						os.Chown(p, uid, gid)
					}
					os.Chown(root, uid, tc.group)
				}
				if err := os.Chmod(root, tc.mode); err != nil {
					t.Fatal(err)
				}
				roots[who] = root
			}
			if out := runDovecotPerms(t, bin, roots["dovecot"], uid, gid); strings.Count(out, " OK ") < len(permScript) {
				t.Fatalf("dovecot imap:\n%s", out)
			}
			if out, err := runPermOps(roots["ours"], uid, gid); err != nil {
				t.Fatalf("our side: %v\n%s", err, out)
			}
			for _, p := range permPaths {
				want, got := permFacts(t, filepath.Join(roots["dovecot"], p)), permFacts(t, filepath.Join(roots["ours"], p))
				if want == "missing" {
					t.Errorf("%s: Dovecot did not create it", p)
				} else if want != got {
					t.Errorf("%s: ours %s, Dovecot's %s", p, got, want)
				}
			}
		})
	}
}

// TestPermsForeignGroup: a mail root that is not setgid and whose group
// the user is no member of (0750 alice:other) lets nothing be created,
// as in Dovecot, whose chgrp of the new file fails.
func TestPermsForeignGroup(t *testing.T) {
	bin := testutil.Oracle(t, "/usr/lib/dovecot/imap", "dovecot-imapd")
	testutil.RequireRoot(t, "only root can give a directory a group its owner is no member of")
	base, err := os.MkdirTemp("", "mboxperm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	for _, who := range []string{"dovecot", "ours"} {
		dir := filepath.Join(base, who)
		root := filepath.Join(dir, "mail")
		os.MkdirAll(root, 0o750)
		os.WriteFile(filepath.Join(dir, "inbox"), nil, 0o600)
		for _, p := range []string{dir, filepath.Join(dir, "inbox")} {
			os.Chown(p, 5001, 5001)
		}
		os.Chown(root, 5001, 5099)
		os.Chmod(root, 0o750)
	}
	if out := runDovecotPerms(t, bin, filepath.Join(base, "dovecot", "mail"), 5001, 5001); !strings.Contains(out, "x0 NO ") {
		t.Fatalf("Dovecot's CREATE did not fail:\n%s", out)
	}
	out, err := runPermOps(filepath.Join(base, "ours", "mail"), 5001, 5001)
	if err == nil || !strings.Contains(out, "operation not permitted") {
		t.Errorf("our CREATE: %v\n%s", err, out)
	}
	for _, who := range []string{"dovecot", "ours"} {
		if ents, _ := os.ReadDir(filepath.Join(base, who, "mail")); len(ents) != 0 {
			t.Errorf("%s left %d entries in the mail root", who, len(ents))
		}
	}
}

// runPermOps runs permOps as uid:gid: in a helper process when we are
// root, else here (uid and gid are ours then).
func runPermOps(root string, uid, gid int) (string, error) {
	if os.Getuid() != 0 {
		err := permOps(root)
		if err != nil {
			return err.Error(), err
		}
		return "", nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{permHelperEnv + "=" + root, fmt.Sprintf("%s_ID=%d:%d", permHelperEnv, uid, gid), "PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// permFacts is a path's mode, owner and group as ls -n shows them.
func permFacts(t *testing.T, p string) string {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		return "missing"
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%v %d:%d", fi.Mode(), st.Uid, st.Gid)
}

// runDovecotPerms runs permScript with Dovecot's imap in PREAUTH stdio
// mode on root, as uid:gid (Dovecot's mail_uid/mail_gid when we are
// root), and returns its output.
func runDovecotPerms(t *testing.T, bin, root string, uid, gid int) string {
	t.Helper()
	dir := filepath.Dir(root)
	conf := filepath.Join(dir, "dovecot.conf")
	extra := ""
	if os.Getuid() == 0 {
		extra = fmt.Sprintf("mail_uid = %d\nmail_gid = %d\nfirst_valid_uid = 1\n", uid, gid)
	}
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("mail_location = mbox:%s:INBOX=%s/inbox\nbase_dir = %s/run\nssl = no\n%s", root, dir, dir, extra)), 0o644); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i, c := range permScript {
		fmt.Fprintf(&in, "x%d %s\r\n", i, c)
	}
	in.WriteString("z LOGOUT\r\n")
	cmd := exec.Command(bin, "-c", conf)
	cmd.Env = []string{"HOME=" + dir, "USER=mailuser", "PATH=/usr/bin:/bin"}
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dovecot imap: %v\n%s", err, out)
	}
	os.RemoveAll(filepath.Join(dir, "run"))
	return string(out)
}
