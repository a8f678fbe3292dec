// SPDX-License-Identifier: MIT

package mta

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"mailsuite/internal/smtpd"
)

// acceptVia queues one message to friend@other.test through the SMTP
// server's spool in DeliveryMode mode, as internal/smtpd does at the
// end of DATA.
func acceptVia(t *testing.T, m *MTA, mode byte) string {
	t.Helper()
	sp := m.Spool(mode)
	env := &smtpd.Envelope{ID: sp.NextID(), From: "a@hamap.local", ClientAddr: "127.0.0.20", Helo: "client", Proto: "ESMTP",
		Received: time.Now(), Rcpts: []smtpd.Rcpt{{Addr: "friend@other.test", User: "friend", Domain: "other.test"}}}
	tx, err := sp.Begin(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Write([]byte("Subject: first\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	id, err := tx.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestFirstAttemptOnDisk: every attempt is in the qf before it is made,
// and counted once. The background attempt after acceptance finds it
// already recorded by the qf written at acceptance (no rewrite of its
// own); an attempt on a message nobody recorded it for (queued only,
// N0) records it first.
func TestFirstAttemptOnDisk(t *testing.T) {
	f := newFixture(t, nil)
	n := newTestNet(t)
	n.dns.AddMX("other.test", "mx.other.test", 10)
	n.dns.AddA("mx.other.test", "127.0.0.41")
	m := newRemoteMTA(t, f, n, nil)
	// Every connection attempt reads the message's qf as it is on
	// disk at that moment (the far side is down: refused).
	var mu sync.Mutex
	var id string
	var seen []int
	m.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		seen = append(seen, f.readQF(t, id).Attempts)
		mu.Unlock()
		return n.dial(ctx, network, addr)
	}
	check := func(what string, wantSeen, wantAfter int) {
		t.Helper()
		m.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 1 || seen[0] != wantSeen {
			t.Errorf("%s: qf at the connection said N%v, want [%d]", what, seen, wantSeen)
		}
		if env := f.readQF(t, id); env.Attempts != wantAfter || env.LastAttempt == 0 || env.Message == "" {
			t.Errorf("%s: qf after the attempt: N%d K%d M%q, want N%d", what, env.Attempts, env.LastAttempt, env.Message, wantAfter)
		}
		seen = nil
	}

	// Background: recorded at acceptance, attempted, deferred. The
	// background slots are all taken until the qf written at
	// acceptance has been looked at: the attempt must use that very
	// file (no rewrite before it).
	for range cap(m.bg) {
		m.bg <- struct{}{}
	}
	mu.Lock()
	id = acceptVia(t, m, 'b')
	mu.Unlock()
	accepted := qfIno(t, f, id)
	if env := f.readQF(t, id); env.Attempts != 1 || env.LastAttempt == 0 {
		t.Errorf("qf at acceptance: N%d K%d, want N1 and the time", env.Attempts, env.LastAttempt)
	}
	var ino uint64
	m.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		seen = append(seen, f.readQF(t, id).Attempts)
		ino = qfIno(t, f, id)
		mu.Unlock()
		return n.dial(ctx, network, addr)
	}
	for range cap(m.bg) {
		<-m.bg
	}
	m.Wait()
	if ino != accepted {
		t.Errorf("the qf was rewritten before the first attempt")
	}
	check("background", 1, 1)

	// The next attempt (a queue run) records its own.
	if _, err := m.RunQueue(context.Background(), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	check("queue run", 2, 2)

	// A background attempt on a qf that does not count it (here: one
	// queued only, N0) records it before making it.
	mu.Lock()
	id = acceptVia(t, m, 'q')
	mu.Unlock()
	if got := f.readQF(t, id).Attempts; got != 0 {
		t.Fatalf("queued only: N%d, want N0", got)
	}
	m.background(id, nil)
	check("background on N0", 1, 1)
}

// qfIno is the inode of the message's qf.
func qfIno(t *testing.T, f *fixture, id string) uint64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(f.work, "mqueue", "qf"+id))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestBackgroundNotLimitedByMaxQueueChildren: MaxQueueChildren bounds a
// queue run's deliveries (as sendmail's bounds its queue runners), not
// the background deliveries of accepted messages: with a limit of one,
// two accepted messages are still attempted at once.
func TestBackgroundNotLimitedByMaxQueueChildren(t *testing.T) {
	f := newFixture(t, nil)
	n := newTestNet(t)
	n.dns.AddMX("other.test", "mx.other.test", 10)
	n.dns.AddA("mx.other.test", "127.0.0.41")
	cfText, err := os.ReadFile(f.cf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cf, append(cfText, "O MaxQueueChildren=1\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	m := newRemoteMTA(t, f, n, nil)
	if m.maxChildren != 1 {
		t.Fatalf("MaxQueueChildren from the cf: %d, want 1", m.maxChildren)
	}
	// Each attempt's connection waits until both attempts are
	// connecting (or gives up after a while, the failure).
	var mu sync.Mutex
	both := make(chan struct{})
	dials := 0
	m.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dials++
		if dials == 2 {
			close(both)
		}
		mu.Unlock()
		select {
		case <-both:
		case <-time.After(20 * time.Second):
		}
		return n.dial(ctx, network, addr)
	}
	acceptVia(t, m, 'b')
	acceptVia(t, m, 'b')
	select {
	case <-both:
	case <-time.After(20 * time.Second):
		t.Errorf("the second background delivery did not start while the first was under way")
	}
	m.Wait()
}
