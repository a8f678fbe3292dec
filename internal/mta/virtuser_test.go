// SPDX-License-Identifier: MIT

package mta

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailsuite/internal/makemap"
	"mailsuite/internal/smtpd"
	"mailsuite/internal/testutil"
)

// TestVirtuserDelivery delivers through FEATURE(virtusertable): a
// virtual-domain entry to a user, one to an alias (aliased after the
// table, as sendmail delivers), the @domain catch-all with %1, an entry
// for a class-w domain, and an error: entry; then makemap replaces the
// map and the next delivery uses the new entry without a restart.
func TestVirtuserDelivery(t *testing.T) {
	dir := t.TempDir()
	vt := filepath.Join(dir, "virtusertable")
	build := func(src string) {
		t.Helper()
		var out, errb bytes.Buffer
		if code := makemap.Main([]string{"makemap", "hash", vt}, strings.NewReader(src), &out, &errb); code != 0 {
			t.Fatalf("makemap: %d %s", code, errb.String())
		}
	}
	build("info@virt.test a\nsales@virt.test team\n@virt.test %1\njoe@hamap.local a\nbad@virt.test error:nouser User unknown\n")
	f := newFixture(t, map[string]string{"VIRTUSER": vt})
	m, _ := f.load(t)
	ctx := context.Background()
	root := Submission{Sender: "root", LocalUser: "root", IgnoreDots: true}
	send := func(subject string, rcpts ...string) {
		t.Helper()
		sub := root
		sub.Recipients = rcpts
		if _, err := m.Submit(ctx, sub, strings.NewReader("Subject: "+subject+"\n\nhi\n"), true); err != nil {
			t.Fatal(err)
		}
	}
	count := func(user, subject string) int {
		b, _ := os.ReadFile(filepath.Join(f.spool, user))
		return strings.Count(string(b), "Subject: "+subject+"\n")
	}
	for _, tc := range []struct {
		rcpt  string
		users map[string]int
	}{
		{"info@virt.test", map[string]int{"a": 1, "b": 0}},
		{"sales@virt.test", map[string]int{"a": 1, "b": 1}},
		{"b@virt.test", map[string]int{"a": 0, "b": 1}},
		{"joe@hamap.local", map[string]int{"a": 1, "b": 0}},
		{"a@hamap.local", map[string]int{"a": 1, "b": 0}},
		{"bad@virt.test", map[string]int{"a": 0, "b": 0}},
	} {
		send(tc.rcpt, tc.rcpt)
		for u, n := range tc.users {
			if got := count(u, tc.rcpt); got != n {
				t.Errorf("%s: %d copies in %s's mailbox, want %d", tc.rcpt, got, u, n)
			}
		}
	}
	if !strings.Contains(f.log.String(), "bad@virt.test... User unknown") {
		t.Errorf("no User unknown line for bad@virt.test:\n%s", f.log.String())
	}
	build("info@virt.test b\n")
	send("after rebuild", "info@virt.test")
	if count("b", "after rebuild") != 1 || count("a", "after rebuild") != 0 {
		t.Errorf("the rebuilt map was not used")
	}
}

// TestVirtuserRCPT: the SMTP server refuses at RCPT what the
// virtusertable refuses, and accepts what it maps to a user. The
// replies are the real sendmail 8.17's for the same table (-bs, checked
// by hand: 553 5.3.0 for error:nouser, the entry's own code and status
// for error:D.D.D:NNN, 550 5.1.1 for a result that is no user).
func TestVirtuserRCPT(t *testing.T) {
	dir := t.TempDir()
	vt := filepath.Join(dir, "virtusertable")
	var out, errb bytes.Buffer
	src := "info@virt.test a\nbad@virt.test error:nouser User unknown\ndeny@hamap.local error:5.7.0:550 Address invalid\n" +
		"ghost@hamap.local nosuch\njoe@hamap.local a\nbad@hamap.local error:nouser User unknown\nlater@hamap.local error:5.2.1:450 Try later\n"
	if code := makemap.Main([]string{"makemap", "hash", vt}, strings.NewReader(src), &out, &errb); code != 0 {
		t.Fatalf("makemap: %d %s", code, errb.String())
	}
	port := freePort(t)
	f := newFixture(t, map[string]string{"PORT": fmt.Sprint(port), "VIRTUSER": vt})
	m, cfg := f.load(t)
	srv, err := smtpd.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lns, opts, err := smtpd.Listen(cfg.CF)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lns[0], opts[0])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	for rcpt, want := range map[string]string{
		"info@virt.test":    "250 2.1.5 <info@virt.test>... Recipient ok",
		"bad@virt.test":     "553 5.3.0 <bad@virt.test>... User unknown",
		"deny@hamap.local":  "550 5.7.0 <deny@hamap.local>... Address invalid",
		"ghost@hamap.local": "550 5.1.1 <ghost@hamap.local>... User unknown",
		"joe@hamap.local":   "250 2.1.5 <joe@hamap.local>... Recipient ok",
		"bad@hamap.local":   "553 5.3.0 <bad@hamap.local>... User unknown",
		"b@hamap.local":     "250 2.1.5 <b@hamap.local>... Recipient ok",
		"later@hamap.local": "450 5.2.1 <later@hamap.local>... Try later",
	} {
		got := smtpSession(t, lns[0].Addr().String(), "a@hamap.local", rcpt, "Subject: x\n\nx\n")
		if got[3] != want {
			t.Errorf("RCPT TO:<%s>: %q, want %q", rcpt, got[3], want)
		}
	}
	m.Wait()
}

// TestVirtuserRCPTVersusSendmail sends the same RCPT commands to the
// real sendmail -bs (same cf, same virtusertable, in a private mount and
// UTS namespace with a loopback resolver and the fixture's passwd) and
// to our server: identical reply lines.
func TestVirtuserRCPTVersusSendmail(t *testing.T) {
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	dir := t.TempDir()
	vt := filepath.Join(dir, "virtusertable")
	var out, errb bytes.Buffer
	src := "info@virt.test a\nbad@virt.test error:nouser User unknown\ndeny@virt.test error:5.7.0:550 Address invalid\n" +
		"ghost@hamap.local nosuch\njoe@hamap.local a\nlater@virt.test error:5.2.1:450 Try later\n@virt.test b\n"
	if code := makemap.Main([]string{"makemap", "hash", vt}, strings.NewReader(src), &out, &errb); code != 0 {
		t.Fatalf("makemap: %d %s", code, errb.String())
	}
	port := freePort(t)
	f := newFixture(t, map[string]string{"PORT": fmt.Sprint(port), "VIRTUSER": vt})
	for _, d := range []string{dir, f.work} {
		os.Chmod(d, 0o755)
	}
	// Only addresses the table decides, each resolving to a different
	// user: -bs queues, so it neither checks local users at RCPT nor
	// echoes a second address of the same user as itself (it repeats
	// the first one's); TestVirtuserRCPT covers those with the daemon's
	// behaviour.
	rcpts := []string{"info@virt.test", "bad@virt.test", "deny@virt.test", "later@virt.test", "anyone@virt.test"}
	for name, data := range map[string]string{"resolv.conf": "nameserver 127.0.0.1\n", "hosts": "127.0.0.1 mail.hamap.local mail localhost\n", "nss": "hosts: files\npasswd: files\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sh := fmt.Sprintf("mount --bind %[1]s/resolv.conf /etc/resolv.conf && mount --bind %[1]s/hosts /etc/hosts && mount --bind %[1]s/nss /etc/nsswitch.conf && mount --bind %[2]s/passwd /etc/passwd && hostname mail.hamap.local && exec %[3]s -C %[2]s/sendmail.cf -bs",
		dir, f.work, sendmail)
	cmd := exec.Command(unshare, "-m", "-u", "sh", "-c", sh)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	br := bufio.NewReader(stdout)
	reply := func() string {
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("sendmail -bs: %v; stderr: %s", err, errb.String())
			}
			if len(l) < 4 || l[3] != '-' {
				return strings.TrimRight(l, "\r\n")
			}
		}
	}
	reply()
	want := map[string]string{}
	for _, c := range append([]string{"HELO x", "MAIL FROM:<a@hamap.local>"}, rcpts...) {
		if strings.Contains(c, "@") && !strings.HasPrefix(c, "MAIL") {
			c = "RCPT TO:<" + c + ">"
		}
		io.WriteString(stdin, c+"\r\n")
		r := reply()
		if strings.HasPrefix(c, "RCPT") {
			// The "(will queue)" suffix is -bs's: the command-line
			// daemon would queue; sendmaild delivers.
			want[c] = strings.TrimSuffix(r, " (will queue)")
		}
	}
	io.WriteString(stdin, "QUIT\r\n")

	_, cfg := f.load(t)
	srv, err := smtpd.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lns, opts, err := smtpd.Listen(cfg.CF)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lns[0], opts[0])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	for _, rcpt := range rcpts {
		got := smtpSession(t, lns[0].Addr().String(), "a@hamap.local", rcpt, "Subject: x\n\nx\n")
		if w := want["RCPT TO:<"+rcpt+">"]; got[3] != w {
			t.Errorf("RCPT TO:<%s>: ours %q, sendmail %q", rcpt, got[3], w)
		}
	}
}
