// SPDX-License-Identifier: MIT

package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sink is a minimal SMTP server on 127.0.0.1 that accepts everything and
// records the transactions.
type sink struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []sunk
	wg   sync.WaitGroup
	// hold, when set, delays the reply to the end of DATA until it is
	// closed; arrived is signalled when that point is reached.
	hold    chan struct{}
	arrived chan struct{}
}

type sunk struct {
	From  string
	Rcpts []string
	Data  string
}

func newSink(t *testing.T) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *sink) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *sink) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	say := func(l string) { fmt.Fprintf(c, "%s\r\n", l) }
	say("220 sink ESMTP")
	var cur sunk
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimRight(line, "\r\n"))
		arg := strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 sink")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			cur = sunk{From: arg[10:]}
			say("250 2.1.0 Ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			cur.Rcpts = append(cur.Rcpts, arg[8:])
			say("250 2.1.5 Ok")
		case cmd == "DATA":
			say("354 go ahead")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			cur.Data = data.String()
			if s.hold != nil {
				s.arrived <- struct{}{}
				<-s.hold
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, cur)
			n := len(s.msgs)
			s.mu.Unlock()
			say(fmt.Sprintf("250 2.0.0 Ok: queued as sink-%d", n))
		case cmd == "QUIT":
			say("221 2.0.0 Bye")
			return
		default:
			say("250 2.0.0 Ok")
		}
	}
}

func (s *sink) received() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunk(nil), s.msgs...)
}

// relayEnvelope is a message as our SMTP server would queue it for a
// remote recipient.
func relayEnvelope(rcpts ...string) *Envelope {
	env := &Envelope{Priority: 30100, Flags: "s",
		Macros: []Macro{{"_", "[127.0.0.20]"}, {"r", "ESMTP"}, {"s", "[127.0.0.20]"}},
		Sender: "<a@hamap.local>",
		Headers: []Header{
			{Cond: "P", Name: "Return-Path", Value: " <\x81g>"},
			{Name: "Received", Value: " from [127.0.0.20] ([127.0.0.20])\n\tby mail.hamap.local (mailsuite) with ESMTP id X;\n\tFri, 27 Nov 2026 01:01:09 GMT"},
			{Name: "From", Value: " a@hamap.local"},
			{Name: "Subject", Value: " queued by mailsuite"},
			{Name: "Message-Id", Value: " <q1@hamap.local>"},
		}}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, Recipient{Final: "RFC822; " + r, Flags: "PFD", Addr: "<" + r + ">"})
	}
	return env
}

// TestRealSendmailDeliversOurs: the real sendmail -q takes a message we
// queued and relays it to the loopback smart host, leaving the queue
// empty; while we hold the message's lock it leaves it alone; when the
// smart host is down it defers it and rewrites our qf, which we read and
// list exactly as sendmail does.
func TestRealSendmailDeliversOurs(t *testing.T) {
	dir := queueDir(t)
	sk := newSink(t)
	real := newRealSendmail(t, dir, sk.port())
	q := openTestQueue(t, dir, Options{})
	id := writeOurs(t, q, relayEnvelope("friend@outside.example", "other@outside.example"), "Hello from the queue.\n.leading dot\n")

	// Locked by us: sendmail's queue run must skip it.
	l, err := q.Lock(id)
	if err != nil {
		t.Fatal(err)
	}
	// -v keeps the queue run in the foreground (without it sendmail
	// forks the run and returns at once).
	out, errs, err := real.run(t, "", "-q", "-v")
	if err != nil {
		t.Fatalf("sendmail -q: %v %s %s", err, out, errs)
	}
	if !strings.Contains(out, id+": locked") {
		t.Errorf("sendmail -q -v did not report the lock:\n%s%s", out, errs)
	}
	if n := len(sk.received()); n != 0 {
		t.Fatalf("sendmail delivered a message we held locked (%d)", n)
	}
	l.Unlock()

	out, errs, err = real.run(t, "", "-q", "-v")
	if err != nil {
		t.Fatalf("sendmail -q: %v %s %s", err, out, errs)
	}
	got := sk.received()
	if len(got) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(got))
	}
	m := got[0]
	// sendmail sends the recipients in reverse file order.
	if m.From != "<a@hamap.local>" || !cmp.Equal(m.Rcpts, []string{"<other@outside.example>", "<friend@outside.example>"}) {
		t.Errorf("envelope: from %s to %v", m.From, m.Rcpts)
	}
	for _, want := range []string{"Received: from [127.0.0.20] ([127.0.0.20])\r\n\tby mail.hamap.local (mailsuite) with ESMTP id X;\r\n",
		"Subject: queued by mailsuite\r\n", "\r\n\r\nHello from the queue.\r\n.leading dot\r\n"} {
		if !strings.Contains(m.Data, want) {
			t.Errorf("delivered data lacks %q:\n%s", want, m.Data)
		}
	}
	if strings.Contains(m.Data, "Return-Path") {
		t.Errorf("?P? header sent to the relay mailer:\n%s", m.Data)
	}
	if files := listDir(t, dir); len(files) != 0 {
		t.Errorf("queue not empty after delivery: %v", files)
	}
}

func TestRealSendmailDefersOurs(t *testing.T) {
	dir := queueDir(t)
	// A port nothing listens on: take one and close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	real := newRealSendmail(t, dir, port)
	q := openTestQueue(t, dir, Options{})
	env := relayEnvelope("later@outside.example")
	id := writeOurs(t, q, env, "body\n")
	if out, errs, err := real.run(t, "", "-q", "-v"); err != nil {
		t.Fatalf("sendmail -q: %v %s %s", err, out, errs)
	}
	l, err := q.Lock(id)
	if err != nil {
		t.Fatalf("our reader on sendmail's rewrite: %v", err)
	}
	got := l.Envelope()
	l.Unlock()
	if got.Attempts != 1 || got.LastAttempt == 0 || got.Message != "Deferred: Connection refused by [127.0.0.1]" {
		t.Errorf("after the failed attempt: N=%d K=%d M=%q", got.Attempts, got.LastAttempt, got.Message)
	}
	if diff := cmp.Diff(env.Recipients, got.Recipients); diff != "" {
		t.Errorf("recipients (-queued +rewritten):\n%s", diff)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "qf"+id))
	if !bytes.Equal(raw, got.Bytes()) {
		t.Errorf("sendmail's rewrite does not round-trip:\n%s\n---\n%s", raw, got.Bytes())
	}
	if diff := cmp.Diff(real.listing(t), ourListing(t, dir, ListOptions{})); diff != "" {
		t.Errorf("listing (-sendmail +ours):\n%s", diff)
	}
}

// TestRealSendmailQueuesWeList: messages the real sendmail queues (from
// the command line and over SMTP with every ESMTP parameter) are read,
// round-tripped and listed by us exactly as sendmail lists them.
func TestRealSendmailQueuesWeList(t *testing.T) {
	dir := queueDir(t)
	real := newRealSendmail(t, dir, 2599)
	msg := "Subject: one\nFrom: a@hamap.local\n\nhello\n"
	if out, errs, err := real.run(t, msg, "-odq", "-f", "a@hamap.local", "root@hamap.local", "x@outside.example"); err != nil {
		t.Fatalf("sendmail: %v %s %s", err, out, errs)
	}
	// -bs answers on stdout; sendmail refuses input sent before its
	// greeting, so the dialogue waits for each reply.
	dialogue := []string{
		"EHLO localhost",
		"MAIL FROM:<a@hamap.local> SIZE=300 BODY=8BITMIME RET=HDRS ENVID=env-42",
		"RCPT TO:<root@hamap.local> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@hamap.local",
		"RCPT TO:<d@outside.example> NOTIFY=DELAY",
		"DATA",
	}
	if err := real.smtp(t, dialogue, "From: A <a@hamap.local>\r\nSubject: caf\xc3\xa9\r\nX-Long: one\r\n two\r\n\r\nbody \xff\r\n..dot\r\n", "-odq"); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "qf*"))
	if len(files) != 2 {
		t.Fatalf("sendmail queued %v", files)
	}
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		env, err := ReadEnvelope(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !bytes.Equal(raw, env.Bytes()) {
			t.Errorf("%s does not round-trip", f)
		}
		if len(env.Recipients) != 2 {
			t.Errorf("%s recipients %+v", f, env.Recipients)
		}
	}
	for _, v := range []bool{false, true} {
		var flags []string
		if v {
			flags = []string{"-v"}
		}
		if diff := cmp.Diff(real.listing(t, flags...), ourListing(t, dir, ListOptions{Verbose: v})); diff != "" {
			t.Errorf("verbose=%v listing (-sendmail +ours):\n%s", v, diff)
		}
	}
}

// TestSendmailLockKeepsUsOut: while the real sendmail delivers one of
// its queued messages (the sink stalls before answering the data), our
// Lock reports ErrLocked, Recover leaves the message alone and both
// listings mark it "*".
func TestSendmailLockKeepsUsOut(t *testing.T) {
	dir := queueDir(t)
	sk := newSink(t)
	sk.hold, sk.arrived = make(chan struct{}), make(chan struct{}, 1)
	real := newRealSendmail(t, dir, sk.port())
	q := openTestQueue(t, dir, Options{})
	id := writeOurs(t, q, relayEnvelope("friend@outside.example"), "body\n")

	done := make(chan error, 1)
	go func() {
		_, _, err := real.run(t, "", "-q", "-v")
		done <- err
	}()
	released := false
	release := func() {
		if !released {
			released = true
			close(sk.hold)
		}
	}
	defer release()
	select {
	case <-sk.arrived:
	case err := <-done:
		t.Fatalf("sendmail -q ended before delivering: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("sendmail never reached the sink")
	}
	if _, err := q.Lock(id); !errors.Is(err, ErrLocked) {
		t.Errorf("Lock during sendmail's delivery: %v, want ErrLocked", err)
	}
	st, err := q.Recover(context.Background(), func(string, *Envelope) error {
		t.Error("Recover handed out a message sendmail holds")
		return nil
	})
	if err != nil || st.Busy != 1 {
		t.Errorf("Recover: %+v %v", st, err)
	}
	ours := ourListing(t, dir, ListOptions{})
	if !strings.Contains(ours, id+"*") {
		t.Errorf("our listing does not mark the locked message:\n%s", ours)
	}
	if diff := cmp.Diff(real.listing(t), ours); diff != "" {
		t.Errorf("listing during delivery (-sendmail +ours):\n%s", diff)
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("sendmail -q: %v", err)
	}
	if n := len(sk.received()); n != 1 {
		t.Errorf("sink got %d messages", n)
	}
}
