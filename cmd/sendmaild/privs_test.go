// SPDX-License-Identifier: MIT

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"mailsuite/internal/testutil"
)

// TestProgramPrivileges delivers, as root, to an alias whose program and
// file are written in the aliases file and to a user whose ~/.forward
// names a program and a file: each program writes the uid it runs with,
// each file is created by the user that writes it. Sendmail runs the
// first as DefaultUser (unset in the cf: daemon, the first of mailnull,
// sendmail and daemon that exists) and the second as the owner of the
// .forward.
func TestProgramPrivileges(t *testing.T) {
	testutil.RequireRoot(t, "programs are started with other uids")
	w := newMTAWork(t)
	// Programs running as daemon and as b must reach the work directory,
	// and the file writer, this test binary (see filehelper.go), must be
	// executable by them: go test builds it in a private directory.
	os.Chmod(filepath.Dir(w.dir), 0o755)
	os.Chmod(w.dir, 0o755)
	if exe, err := os.Executable(); err == nil {
		for d := filepath.Dir(exe); d != "/" && strings.HasPrefix(d, os.TempDir()+"/go-build"); d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
	}
	out := filepath.Join(w.dir, "out")
	home := filepath.Join(w.dir, "home", "b")
	for _, d := range []string{out, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(out, 0o777)
	os.Chmod(filepath.Dir(home), 0o755)
	if err := os.Chown(home, 1024, 1024); err != nil {
		t.Fatal(err)
	}
	w.write(t, "passwd", "root:x:0:0:Charlie Root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"+
		"a:x:1023:1023::/nonexistent:/bin/sh\nb:x:1024:1024::"+home+":/bin/sh\n")
	w.write(t, "aliases", "postmaster: b\nprogalias: \"|id -u > "+out+"/alias.out\", "+out+"/alias.copy\n")
	fwd := filepath.Join(home, ".forward")
	if err := os.WriteFile(fwd, []byte("\\b, \"|id -u > "+out+"/forward.out\", "+out+"/forward.copy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(fwd, 1024, 1024); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := w.invoke(t, "newaliases", ""); code != 0 {
		t.Fatalf("newaliases: %s", errOut)
	}
	msg := "From: a@hamap.local\nSubject: programs\n\nrun them\n"
	if code, _, errOut := w.invoke(t, "sendmail", msg, "-i", "-f", "a@hamap.local", "progalias", "b"); code != 0 {
		t.Fatalf("sendmail: exit %d: %s", code, errOut)
	}
	for file, want := range map[string]string{"alias.out": "1", "forward.out": "1024"} {
		b, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(w.dir, "maillog"))
			t.Fatalf("%s: %v\nlog:\n%s", file, err, log)
		}
		if got := strings.TrimSpace(string(b)); got != want {
			t.Errorf("%s: program ran as uid %s, want %s", file, got, want)
		}
	}
	// The files are created by the same users, in mbox form.
	for file, want := range map[string]uint32{"alias.copy": 1, "forward.copy": 1024} {
		p := filepath.Join(out, file)
		fi, err := os.Stat(p)
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(w.dir, "maillog"))
			t.Errorf("%s: %v\nlog:\n%s", file, err, log)
			continue
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != want {
			t.Errorf("%s: created by uid %d, want %d", file, uid, want)
		}
		b, _ := os.ReadFile(p)
		if !strings.HasPrefix(string(b), "From a@hamap.local  ") || !strings.Contains(string(b), "\nReturn-Path: <a@hamap.local>\n") ||
			!strings.HasSuffix(string(b), "\nrun them\n\n") {
			t.Errorf("%s:\n%s", file, b)
		}
	}
	if mbox, err := os.ReadFile(filepath.Join(w.spool, "b")); err != nil || !strings.Contains(string(mbox), "Subject: programs") {
		t.Errorf("b's own mailbox (\\b in .forward): %v", err)
	}
}
