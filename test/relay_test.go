// SPDX-License-Identifier: MIT

package test

// Step 8 of the runbook suite, and issue #5's two-server test: the seed's
// diagram has the sender's Sendmail relay by SMTP to the receiving side's
// MTA, found through the domain's MX record. A second sendmaild
// (mail.other.local on 127.0.0.62, local for other.local) runs beside
// mail.hamap.local; the suite's DNS server answers MX and A records for
// both domains. Mail crosses in both directions with a Received chain
// showing both hops; with the receiving server down the message is
// accepted, mailq lists it as Deferred, and sendmail -q (or the sending
// daemon's next periodic queue run) delivers it once the server is back.

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func (rb *runbook) stepMX(t *testing.T) {
	mx2 := newSite(t, rb.sb, rb.bin, filepath.Join(rb.dir, "other"), "mail.other.local", "other.local", ipMX2)
	ok := rb.sum.step(t, "set up mail.other.local", nil, func(t *testing.T) {
		mx2.configure(t, ipPC)
		mx2.addUsers(t)
		// A short queue interval, so that its periodic run is seen below.
		mx2.startSendmaildEvery(t, "2s")
	})
	rb.sum.step(t, "a@hamap.local -> friend@other.local", []bool{ok}, func(t *testing.T) {
		subject := "to the other server " + rb.token
		qid := rb.sendSwaks(t, ipPC, ipMX1, "a@hamap.local", "friend@other.local", subject, "across by MX\n")
		mb := mx2.waitMbox(t, "friend", subject)
		checkTwoHops(t, mb, subject, "mail.hamap.local", "mail.other.local", qid)
		rb.mx1.waitLog(t, qid+`: to=<friend@other\.local>, ctladdr=<a@hamap\.local> \(1023/100\), delay=\d\d:\d\d:\d\d, xdelay=\d\d:\d\d:\d\d, mailer=esmtp, pri=\d+, relay=mail\.other\.local\. \[`+regexp.QuoteMeta(ipMX2)+`\], dsn=2\.0\.0, stat=Sent \(`)
	})
	rb.sum.step(t, "friend@other.local -> a@hamap.local", []bool{ok}, func(t *testing.T) {
		subject := "back from the other server " + rb.token
		qid := rb.sendSwaks(t, ipPC, ipMX2, "friend@other.local", "a@hamap.local", subject, "and back\n")
		mb := rb.mx1.waitMbox(t, "a", subject)
		checkTwoHops(t, mb, subject, "mail.other.local", "mail.hamap.local", qid)
	})
	rb.sum.step(t, "deferred while mail.other.local is down, sendmail -q delivers", []bool{ok}, func(t *testing.T) {
		mx2.smtp.stop(t)
		subject := "while the other server was down " + rb.token
		qid := rb.sendSwaks(t, ipPC, ipMX1, "a@hamap.local", "friend@other.local", subject, "deferred, then delivered\n")
		// The delivery attempt right after acceptance fails: mailq lists
		// the message with the reason.
		var q string
		deadline := time.Now().Add(15 * time.Second)
		// After the ID, sendmail's status mark: '*' while being delivered,
		// 'X' when the load average holds the queue back, '-' too young.
		reDeferred := regexp.MustCompile(`(?m)^` + qid + `[ *X?-] *\d+ \w{3} \w{3} [ \d]\d \d\d:\d\d <a@hamap\.local>\n\s+\(Deferred: Connection refused by mail\.other\.local\.\)\n\t+ <friend@other\.local>\n`)
		for {
			q = rb.mailq(t)
			if reDeferred.MatchString(q) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("mailq does not list %s as Deferred after 15 s:\n%s\nmaillog:\n%s", qid, q, readFile(t, rb.mx1.maillog()))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(q, "\t\tTotal requests: 1\n") {
			t.Errorf("mailq:\n%s", q)
		}
		mx2.startSendmaildEvery(t, "2s")
		s := rb.mx1
		out, rc := rb.sb.runAs(t, s.host, s.env(), "", filepath.Join(s.sbin, "sendmail"), "-C", s.cf(), "-L", s.maillog(), "-q")
		if rc != 0 {
			t.Fatalf("sendmail -q: exit %d\n%s", rc, out)
		}
		mb := mx2.waitMbox(t, "friend", subject)
		checkTwoHops(t, mb, subject, "mail.hamap.local", "mail.other.local", qid)
		q = rb.mailq(t)
		if want := s.path("var/spool/mqueue") + " is empty\n\t\tTotal requests: 0\n"; q != want {
			t.Errorf("mailq after sendmail -q:\n%q\nwant %q", q, want)
		}
	})
	rb.sum.step(t, "deferred while mail.hamap.local is down, the next periodic run delivers", []bool{ok}, func(t *testing.T) {
		rb.mx1.smtp.stop(t)
		subject := "while mail.hamap.local was down " + rb.token
		qid := rb.sendSwaks(t, ipPC, ipMX2, "friend@other.local", "a@hamap.local", subject, "deferred, then sent by the -q2s run\n")
		mx2.waitLog(t, qid+`: to=<a@hamap\.local>, .*dsn=4\.4\.1, stat=Deferred: Connection refused by mail\.hamap\.local\.`)
		rb.mx1.startSendmaild(t)
		mb := rb.mx1.waitMbox(t, "a", subject)
		checkTwoHops(t, mb, subject, "mail.other.local", "mail.hamap.local", qid)
		mx2.waitLog(t, qid+`: to=<a@hamap\.local>, .*dsn=2\.0\.0, stat=Sent \(`)
	})
}

// mailq runs mailq (sendmaild's mailq personality) on mail.hamap.local.
func (rb *runbook) mailq(t *testing.T) string {
	t.Helper()
	s := rb.mx1
	out, rc := rb.sb.runAs(t, s.host, s.env(), "", filepath.Join(s.sbin, "mailq"), "-C", s.cf())
	if rc != 0 {
		t.Fatalf("mailq: exit %d\n%s", rc, out)
	}
	return out
}

// checkTwoHops checks the delivered message's Received chain: the newest
// header was added by the receiving server for the sending server's
// connection, the one below it by the sending server for the trusted PC,
// and the sending server's queue ID is qid.
func checkTwoHops(t *testing.T, mbox, subject, sender, receiver, qid string) {
	t.Helper()
	mbox = "\n" + mbox
	i := strings.Index(mbox, "\nSubject: "+subject+"\n")
	start := strings.LastIndex(mbox[:max(i, 0)], "\nFrom ")
	if i < 0 || start < 0 {
		t.Fatalf("no message with subject %q:\n%s", subject, mbox)
	}
	head := mbox[start+1:]
	head = head[:strings.Index(head, "\n\n")+1]
	var received []string
	for _, l := range strings.SplitAfter(head, "\n") {
		switch {
		case strings.HasPrefix(l, "Received:"):
			received = append(received, l)
		case len(received) > 0 && (strings.HasPrefix(l, "\t") || strings.HasPrefix(l, " ")):
			received[len(received)-1] += l
		}
	}
	if len(received) != 2 {
		t.Fatalf("want 2 Received headers (two hops), got %d:\n%s", len(received), head)
	}
	hop2 := `^Received: from ` + regexp.QuoteMeta(sender) + ` \(\S+ \[127\.\d+\.\d+\.\d+\]\)\n\tby ` + regexp.QuoteMeta(receiver) + ` \(8\.17\.1\.9/8\.17\.1\.9\) with ESMTP id \w{14}\n\tfor <[^>]+>; .+\n$`
	hop1 := `^Received: from \[` + regexp.QuoteMeta(ipPC) + `\] \(\[` + regexp.QuoteMeta(ipPC) + `\]\)\n\tby ` + regexp.QuoteMeta(sender) + ` \(8\.17\.1\.9/8\.17\.1\.9\) with ESMTP id ` + qid + `\n\tfor <[^>]+>; .+\n$`
	for i, re := range []string{hop2, hop1} {
		if !regexp.MustCompile(re).MatchString(received[i]) {
			t.Errorf("Received header %d does not match %s:\n%s", i+1, re, received[i])
		}
	}
	if !strings.HasPrefix(head[strings.Index(head, "\n")+1:], "Return-Path: <") {
		t.Errorf("the delivered message does not start with Return-Path:\n%s", head)
	}
}
