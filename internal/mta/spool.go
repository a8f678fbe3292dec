// SPDX-License-Identifier: MIT

package mta

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"mailsuite/internal/maillog"
	"mailsuite/internal/queue"
	"mailsuite/internal/smtpd"
)

// Spool returns internal/smtpd's view of the queue: each message is
// written as df/qf files and is durable when Commit returns. Its local
// recipients are then delivered as the DeliveryMode letter mode says:
// 'i' (interactive) before Commit returns, so before the 250; 'q'
// (queueonly) and 'd' (deferred) not at all (a queue run will); any
// other mode, 'b' (background) included, in a goroutine.
func (m *MTA) Spool(mode byte) smtpd.Spool {
	return &spool{m: m, mode: mode}
}

type spool struct {
	m    *MTA
	mode byte
}

func (s *spool) NextID() string { return s.m.q.NewID() }

func (s *spool) Begin(ctx context.Context, env *smtpd.Envelope) (smtpd.Txn, error) {
	var limit int64
	if s.m.cf.MaxMessageSize > 0 {
		limit = s.m.cf.MaxMessageSize
	}
	p, err := s.m.q.Prepare(ctx, env.ID, queue.PrepareOptions{Limit: limit, CRLF: true, SplitHeader: true})
	if err != nil {
		return nil, err
	}
	return &txn{s: s, p: p, env: *env}, nil
}

type txn struct {
	s   *spool
	p   *queue.Pending
	env smtpd.Envelope
}

func (t *txn) Write(b []byte) (int, error) { return t.p.Write(b) }

func (t *txn) Abort() error { return t.p.Abort() }

func (t *txn) Commit() (string, error) {
	e := &t.env
	if e.Discard {
		return e.ID, t.p.Abort()
	}
	under := "[" + e.ClientAddr + "]"
	if e.ClientName != "" {
		under = e.ClientName + " " + under
	}
	if e.LocalUser != "" {
		under = e.LocalUser + "@localhost" // sendmail -bs
	}
	macros := []queue.Macro{{Name: "r", Value: e.Proto}, {Name: "s", Value: e.Helo}, {Name: "_", Value: under}}
	if e.AuthUser != "" {
		macros = append(macros, queue.Macro{Name: "auth_authen", Value: e.AuthUser})
	}
	if len(e.Rcpts) == 1 {
		macros = append(macros, queue.Macro{Name: "mailsuite_for", Value: "<" + e.Rcpts[0].Addr + ">"})
	}
	rcpts := make([]queue.Recipient, 0, len(e.Rcpts))
	for _, r := range e.Rcpts {
		addr := r.Addr
		if r.Local && !strings.Contains(addr, "@") {
			addr = r.User
		}
		rcpts = append(rcpts, queue.Recipient{Flags: notifyFlags(r.Notify), ORcpt: r.ORcpt, Final: "RFC822; " + r.Addr, Addr: "<" + addr + ">"})
	}
	qenv := &queue.Envelope{
		Created:    e.Received.Unix(),
		Priority:   queue.Priority(t.p.Size(), 0, len(e.Rcpts)),
		BodyType:   e.BodyType,
		Macros:     macros,
		Sender:     "<" + e.From + ">",
		Recipients: rcpts,
		Headers:    t.p.Header(),
	}
	if e.BodyType == "8BITMIME" {
		qenv.Flags = "8"
	}
	qenv.Flags += retFlags(e.Ret)
	qenv.EnvID = e.EnvID
	bg := t.s.mode != 'q' && t.s.mode != 'd' && t.s.mode != 'i'
	if bg {
		// The background attempt follows at once: record it in the
		// qf written now (as its own Update would before making it),
		// which saves a rewrite and its fsyncs per message. A crash
		// before the attempt leaves N1 for an attempt not made, which
		// errs on the side the rule wants (no burst of retries).
		qenv.Attempts = 1
		qenv.LastAttempt = t.s.m.now().Unix()
	}
	if !bg {
		if err := t.p.Commit(qenv); err != nil {
			return "", err
		}
		if t.s.mode == 'i' {
			if err := t.s.m.Deliver(context.Background(), e.ID); err != nil {
				t.s.m.log.Logf(maillog.MailErr, "%s: SYSERR: delivery: %v", e.ID, err)
			}
		}
		return e.ID, nil
	}
	// The qf stays locked from its writing to the background attempt,
	// which then need not open, lock and read it again.
	l, err := t.p.CommitLocked(qenv)
	if err != nil {
		return "", err
	}
	t.s.m.background(e.ID, l)
	return e.ID, nil
}

// retFlags are the F line's flags for a RET= parameter as sendmail
// writes them: d when RET was given, n too for RET=HDRS.
func retFlags(ret string) string {
	switch strings.ToUpper(ret) {
	case "FULL":
		return "d"
	case "HDRS":
		return "dn"
	}
	return ""
}

// withFlag adds flag c to a qf F line's flags, in the order sendmail's
// queueup writes them (w r 8 b d n s), so that a warning sent for a
// RET= message reads "wdn" as sendmail's file would.
func withFlag(flags string, c byte) string {
	if strings.IndexByte(flags, c) >= 0 {
		return flags
	}
	const order = "wr8bdns"
	var b strings.Builder
	for i := 0; i < len(order); i++ {
		if order[i] == c || strings.IndexByte(flags, order[i]) >= 0 {
			b.WriteByte(order[i])
		}
	}
	for i := 0; i < len(flags); i++ {
		// Letters sendmail does not write stay, at the end.
		if strings.IndexByte(order, flags[i]) < 0 {
			b.WriteByte(flags[i])
		}
	}
	return b.String()
}

// notifyFlags are the R line's flags for a NOTIFY= parameter, in
// sendmail's order: P (primary), then N (NOTIFY given) and S, F, D for
// SUCCESS, FAILURE, DELAY; without NOTIFY failures and delays are
// reported ("PFD").
func notifyFlags(notify string) string {
	if notify == "" {
		return "PFD"
	}
	flags := "PN"
	for _, w := range []struct {
		word string
		flag string
	}{{"SUCCESS", "S"}, {"FAILURE", "F"}, {"DELAY", "D"}} {
		for _, v := range strings.Split(strings.ToUpper(notify), ",") {
			if v == w.word {
				flags += w.flag
			}
		}
	}
	return flags
}

// Submission is a message given on the command line (sendmail [-t] rcpt...).
type Submission struct {
	// Sender is the envelope sender: -f, or the submitting user's name.
	Sender string
	// ExplicitSender is set when -f gave the sender.
	ExplicitSender bool
	// FullName is -F (or the submitter's gecos).
	FullName string
	// LocalUser is the submitting user's login name ($_ user@localhost).
	LocalUser string
	// Recipients are the command-line recipients; with HeaderRecipients
	// (-t) the To:, Cc: and Bcc: fields are added and Bcc: is removed.
	Recipients       []string
	HeaderRecipients bool
	// IgnoreDots is -i/-oi: a line with a single dot does not end the
	// message.
	IgnoreDots bool
	// Ret is -R ("full" or "hdrs", any case; "" for none) and EnvID -V,
	// the DSN parameters sendmail's command line takes for RET= and
	// ENVID=. EnvID is kept as given, as sendmail keeps it.
	Ret, EnvID string
	// Notify is -N, the NOTIFY= value for every recipient ("" for
	// none).
	Notify string
}

// Submit queues a command-line submission read from r and returns its
// queue id; its local recipients are delivered before Submit returns
// when deliverNow is set.
func (m *MTA) Submit(ctx context.Context, sub Submission, r io.Reader, deliverNow bool) (string, error) {
	id := m.q.NewID()
	p, err := m.q.Prepare(ctx, id, queue.PrepareOptions{Limit: m.cf.MaxMessageSize, CRLF: true, SplitHeader: true})
	if err != nil {
		return "", err
	}
	if !sub.IgnoreDots {
		r = &dotReader{br: bufio.NewReader(r)}
	}
	if _, err := io.Copy(p, r); err != nil {
		p.Abort()
		return "", fmt.Errorf("read message: %w", err)
	}
	hdr := p.Header()
	rcpts := append([]string(nil), sub.Recipients...)
	if sub.HeaderRecipients {
		// As sendmail -t: the header's To:, Cc: and Bcc: addresses,
		// less those of the argument list, which are suppressed.
		suppressed := make(map[string]bool, len(rcpts))
		for _, a := range rcpts {
			suppressed[strings.ToLower(a)] = true
		}
		rcpts = rcpts[:0]
		kept := hdr[:0]
		for _, h := range hdr {
			switch strings.ToLower(h.Name) {
			case "to", "cc", "bcc":
				for _, a := range splitAddrs(h.Value) {
					if !suppressed[strings.ToLower(a)] {
						rcpts = append(rcpts, a)
					}
				}
			}
			if !strings.EqualFold(h.Name, "bcc") {
				kept = append(kept, h)
			}
		}
		hdr = kept
	}
	if len(rcpts) == 0 {
		p.Abort()
		return "", errors.New("no recipient addresses found in header")
	}
	macros := []queue.Macro{{Name: "_", Value: sub.LocalUser + "@localhost"}}
	if sub.FullName != "" {
		macros = append(macros, queue.Macro{Name: "x", Value: sub.FullName})
	}
	if !sub.ExplicitSender {
		macros = append(macros, queue.Macro{Name: "mailsuite_nof", Value: "1"})
	}
	if len(rcpts) == 1 && !sub.HeaderRecipients {
		// $u as given: no angle brackets on the command line (the
		// real sendmail's "for bad@outside.example;" in
		// internal/dsn/testdata/real-bounce.eml).
		macros = append(macros, queue.Macro{Name: "mailsuite_for", Value: rcpts[0]})
	}
	qr := make([]queue.Recipient, 0, len(rcpts))
	for _, a := range rcpts {
		final := a
		if !strings.Contains(final, "@") {
			final += "@" + m.hostname
		}
		qr = append(qr, queue.Recipient{Flags: notifyFlags(sub.Notify), Final: "rfc822; " + final, Addr: a})
	}
	env := &queue.Envelope{
		Created:    m.now().Unix(),
		Priority:   queue.Priority(p.Size(), 0, len(qr)),
		Flags:      retFlags(sub.Ret),
		Macros:     macros,
		Sender:     sub.Sender,
		EnvID:      sub.EnvID,
		Recipients: qr,
		Headers:    hdr,
	}
	if err := p.Commit(env); err != nil {
		return "", err
	}
	mid := msgID(hdr)
	if mid == "" {
		// The Message-Id the local mailer's headers will add.
		mid = "<" + time.Unix(env.Created, 0).UTC().Format("200601021504") + "." + id + "@" + m.hostname + ">"
	}
	m.log.From(id, maillog.From{Sender: sub.Sender, Size: p.Size(), NRcpts: len(qr), MsgID: mid, Relay: sub.LocalUser + "@localhost"})
	if deliverNow {
		if err := m.Deliver(ctx, id); err != nil {
			return id, err
		}
	}
	return id, nil
}

func msgID(hdr []queue.Header) string {
	for _, h := range hdr {
		if strings.EqualFold(h.Name, "message-id") {
			return strings.TrimSpace(h.Value)
		}
	}
	return ""
}

// splitAddrs returns the addresses of a To:/Cc: value: the part in angle
// brackets, or the bare word, of each comma-separated entry.
func splitAddrs(v string) []string {
	var out []string
	for _, f := range strings.Split(strings.ReplaceAll(v, "\n", " "), ",") {
		f = strings.TrimSpace(f)
		if i := strings.LastIndexByte(f, '<'); i >= 0 {
			if j := strings.IndexByte(f[i:], '>'); j > 0 {
				f = f[i+1 : i+j]
			}
		} else if i := strings.IndexByte(f, '('); i >= 0 {
			f = strings.TrimSpace(f[:i])
		}
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// dotReader ends the input at a line holding a single dot (sendmail
// without -i).
type dotReader struct {
	br      *bufio.Reader
	pending []byte
	done    bool
}

func (d *dotReader) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		if d.done {
			return 0, io.EOF
		}
		line, err := d.br.ReadBytes('\n')
		if t := strings.TrimRight(string(line), "\r\n"); t == "." && len(line) > 1 {
			d.done = true
			return 0, io.EOF
		}
		d.pending = line
		if err == io.EOF {
			d.done = true
		} else if err != nil {
			return 0, err
		}
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}
