// SPDX-License-Identifier: MIT

package mta

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailsuite/internal/makemap"
	"mailsuite/internal/smtpd"
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
