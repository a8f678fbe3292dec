// SPDX-License-Identifier: MIT

package mta

import (
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"mailsuite/internal/deliver"
	"mailsuite/internal/dsn"
	"mailsuite/internal/maillog"
	"mailsuite/internal/queue"
)

// dsnMacro marks a notification we queued: "1" for one to the sender,
// "postmaster" for one about a failed notification. Such a message
// already carries its Received header, and a failure of the postmaster
// notification itself is not returned again.
const dsnMacro = "mailsuite_dsn"

// notice is a notification to send about some recipients.
type notice struct {
	kind      dsn.Kind
	outs      []outcome
	msg       string // the log's "DSN: <msg>"
	warn, ret time.Duration
}

// queueNotice writes the DSN about env's recipients in n as a new queued
// message and returns its id ("" when nothing is to be sent: the
// recipients asked for no notification, or the message was a postmaster
// notification that failed in turn).
func (m *MTA) queueNotice(ctx context.Context, l *queue.Locked, env *queue.Envelope, n *notice, o attemptOptions) (string, error) {
	id := l.ID()
	var rcpts []dsn.Recipient
	var transcript strings.Builder
	delivered := false
	expanded := map[string]bool{}
	for _, oc := range n.outs {
		if oc.st.Sent() && oc.several {
			// A member of an alias of several addresses: sendmail
			// names the members in the transcript only.
			delivered = true
			if !expanded[oc.addr] {
				expanded[oc.addr] = true
				transcript.WriteString(oc.addr + "... expanded to multiple addresses\n")
			}
			transcript.WriteString(oc.member + "... Successfully delivered\n")
			continue
		}
		if oc.st.Sent() {
			// finish kept only those that asked for a receipt.
			delivered = true
			rcpts = append(rcpts, m.dsnRecipient(oc, n.kind))
			what := "Successfully delivered"
			if oc.res != nil {
				what = "relayed; expect no further notifications"
			}
			who := listedAddr(oc)
			if oc.member != "" {
				who = oc.member
			}
			transcript.WriteString(who + "... " + what + "\n")
			continue
		}
		if n.kind == dsn.Receipt {
			// A deferred recipient: in the transcript only.
			if t := oc.st.Transcript(listedAddr(oc)); t != "" {
				transcript.WriteString(t + "\n")
			}
			continue
		}
		// NOTIFY=: without it failures and delays are reported; with
		// it only what the client asked for.
		if f := oc.rcpt.Flags; strings.Contains(f, "N") {
			want := byte('F')
			if n.kind == dsn.Delay {
				want = 'D'
			}
			if strings.IndexByte(f, want) < 0 {
				continue
			}
		}
		rc := m.dsnRecipient(oc, n.kind)
		rcpts = append(rcpts, rc)
		switch {
		case oc.res != nil && oc.res.Transcript != "":
			transcript.WriteString(oc.res.Transcript)
			if !strings.HasSuffix(oc.res.Transcript, "\n") {
				transcript.WriteString("\n")
			}
		default:
			if t := oc.st.Transcript(oc.addr); t != "" {
				transcript.WriteString(t + "\n")
			}
		}
	}
	if len(rcpts) == 0 && !delivered {
		return "", nil
	}
	isPM := macro(env, dsnMacro) == "postmaster"
	to, ok := dsn.ReturnTo(env.Sender, m.cf.DoubleBounceAddress, isPM)
	if !ok {
		m.log.Logf(maillog.MailErr, "%s: SYSERR: double bounce dropped: %s", id, n.msg)
		return "", nil
	}
	toPostmaster := bare(env.Sender) == ""
	if !toPostmaster {
		// The sender as queued: "<a@b>" for SMTP, "a" from the
		// command line, as sendmail's To: shows it.
		to = strings.TrimSpace(env.Sender)
	}
	timedOut := false
	for _, rc := range rcpts {
		timedOut = timedOut || rc.Status == "4.4.7"
	}
	if n.kind == dsn.Failure && n.ret > 0 && timedOut {
		transcript.WriteString("Message could not be delivered for " + dsn.Interval(n.ret) + "\nMessage will be deleted from queue\n")
	}
	nid := m.q.NewID()
	now := m.now()
	rep := &dsn.Report{
		Kind:         n.kind,
		Hostname:     m.hostname,
		Version:      deliver.DefaultVersion,
		QueueID:      nid,
		To:           to,
		Now:          now,
		Arrival:      time.Unix(env.Created, 0),
		ReceivedFrom: macro(env, "_"),
		EnvID:        dsn.Unxtext(env.EnvID),
		Recipients:   rcpts,
		Transcript:   transcript.String(),
		WarnAfter:    n.warn,
		ReturnAfter:  n.ret,
		HeadersOnly:  strings.Contains(env.Flags, "n"),
	}
	if !o.retry {
		// The daemon's own delivery right after acceptance still
		// knows the client, as sendmail's child does.
		if u := macro(env, "_"); u != "" && !strings.HasSuffix(u, "@localhost") {
			// sendmail's RealHostName: the client's name, else "[ip]".
			name := strings.TrimSpace(strings.TrimSuffix(u, " (may be forged)"))
			if i := strings.LastIndexByte(name, '['); i > 0 {
				name = strings.TrimSpace(name[:i])
			}
			rep.ReceivedFromMTA = name
		}
	}
	de := m.deliverEnvelope(id, env)
	df, err := os.Open(l.DataPath())
	if err != nil {
		return "", err
	}
	defer df.Close()
	orig, err := deliver.NewMessage(de, "PDFM", io.MultiReader(strings.NewReader(headerText(env.Headers)), df))
	if err != nil {
		return "", err
	}
	rep.Original = orig
	var buf bytes.Buffer
	if err := rep.Write(&buf); err != nil {
		return "", err
	}
	p, err := m.q.Prepare(ctx, nid, queue.PrepareOptions{SplitHeader: true})
	if err != nil {
		return "", err
	}
	if _, err := p.Write(buf.Bytes()); err != nil {
		p.Abort()
		return "", err
	}
	hdr := p.Header()
	addr := env.Sender
	mark := "1"
	if toPostmaster {
		addr, mark = to, "postmaster"
	}
	qenv := &queue.Envelope{
		Created:    now.Unix(),
		Priority:   queue.Priority(p.Size(), 0, 1),
		Macros:     []queue.Macro{{Name: "_", Value: "localhost"}, {Name: dsnMacro, Value: mark}},
		Sender:     "<>",
		Recipients: []queue.Recipient{{Flags: "P", Final: "rfc822; " + bare(to), Addr: addr}},
		Headers:    hdr,
	}
	if err := p.Commit(qenv); err != nil {
		return "", err
	}
	m.log.DSN(id, nid, n.msg, toPostmaster)
	return nid, nil
}

// wantsReceipt says whether a delivered recipient gets a return
// receipt, as sendmail decides: it asked for one (NOTIFY=SUCCESS), the
// message has a sender to send it to, PrivacyOptions do not forbid
// receipts, and the recipient was delivered here or relayed to a server
// that does not do DSN (one that does got NOTIFY and answers for itself).
func (m *MTA) wantsReceipt(env *queue.Envelope, oc outcome) bool {
	if f := oc.rcpt.Flags; !strings.Contains(f, "N") || !strings.Contains(f, "S") {
		return false
	}
	if bare(env.Sender) == "" || macro(env, dsnMacro) != "" {
		return false
	}
	for _, w := range m.cf.PrivacyOptions {
		if w == "noreceipts" || w == "goaway" {
			return false
		}
	}
	return oc.res == nil || !oc.res.OfferedDSN
}

// childFlags are the R line flags of an address an alias expanded
// parent to: it inherits the parent's NOTIFY flags (sendmail's
// QINHERITEDBITS), written before the A as sendmail orders them.
func childFlags(parent string) string {
	var b strings.Builder
	for _, c := range "NSFD" {
		if strings.ContainsRune(parent, c) {
			b.WriteRune(c)
		}
	}
	return b.String() + "A"
}

// listedAddr is a recipient as a notification lists it: programs in
// double quotes.
func listedAddr(oc outcome) string {
	if a := bare(oc.addr); strings.HasPrefix(a, "|") {
		return `"` + a + `"`
	}
	return oc.addr
}

// dsnRecipient is one recipient's part of a notification.
func (m *MTA) dsnRecipient(oc outcome, kind dsn.Kind) dsn.Recipient {
	last := m.now()
	var rc dsn.Recipient
	switch {
	case oc.st.Sent() && oc.res != nil:
		// Relayed to a server without DSN: its RCPT reply is the
		// diagnostic (sendmail's real receipt).
		rc = dsn.Recipient{Action: "relayed (to non-DSN-aware mailer)", Status: oc.st.DSN, LastAttempt: last,
			RemoteMTA: strings.TrimSuffix(oc.res.RemoteMTA, "."), Diagnostic: oc.res.RcptReply, Original: oc.rcpt.ORcpt}
		if rc.Status == "" {
			rc.Status = "2.0.0"
		}
	case oc.st.Sent():
		rc = dsn.Recipient{Action: "delivered (to mailbox)", Status: "2.1.5", LastAttempt: last, Original: oc.rcpt.ORcpt}
		if oc.member != "" {
			// Through an alias of one address: listed under the
			// mailbox's name, qualified in X-Actual-Recipient.
			rc.ExpandedFrom, rc.Actual = oc.addr, oc.member
			if !strings.Contains(rc.Actual, "@") {
				rc.Actual += "@" + m.hostname
			}
		}
	case oc.res != nil:
		rc = oc.res.Notification(oc.rcpt.ORcpt, last)
		if oc.st.DSN == "4.4.7" {
			rc.Action, rc.Status = "failed", "4.4.7"
		}
	default:
		status := oc.st.Report
		if status == "" || oc.st.DSN == "4.4.7" {
			status = oc.st.DSN
		}
		// A local failure's diagnostic is sendmail's own: the mailer's
		// exit code ("X-Unix; 1"), or the status it chose ("X-Unix; 550
		// 5.1.1 User unknown"), which is also the "(reason: …)".
		rc = dsn.Recipient{Status: status, LastAttempt: last, Original: oc.rcpt.ORcpt, DiagnosticType: "X-Unix"}
		switch {
		case oc.exited:
			rc.Diagnostic = strconv.Itoa(oc.st.Code)
		case oc.st.Reply != "":
			rc.Diagnostic = oc.st.Reply + " " + oc.st.DSN + " " + oc.st.Stat
		default:
			rc.Reason = oc.st.Stat
		}
		rc.Action = "failed"
		if kind == dsn.Delay {
			rc.Action = "delayed"
		}
	}
	rc.Addr = oc.addr
	if oc.member != "" && rc.ExpandedFrom != "" {
		rc.Addr = oc.member
	}
	if a := bare(oc.addr); strings.HasPrefix(a, "|") || strings.HasPrefix(a, "/") {
		// Programs are listed quoted; a program's or a file's
		// X-Actual-Recipient is the command or path, and the alias it
		// came from is named.
		rc.Addr = listedAddr(oc)
		rc.Actual, rc.ActualType = a, "X-Unix"
		rc.ExpandedFrom = oc.parent
	}
	final := oc.rcpt.Final
	if i := strings.IndexByte(final, ';'); i >= 0 {
		final = strings.TrimSpace(final[i+1:])
	}
	if final == "" {
		final = bare(oc.addr)
	}
	rc.Final = final
	if o := rc.Original; o != "" && !strings.Contains(o, ";") {
		rc.Original = "rfc822;" + o
	}
	// ORCPT is kept as xtext, and reported decoded.
	rc.Original = dsn.Unxtext(rc.Original)
	return rc
}
