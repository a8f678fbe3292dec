// SPDX-License-Identifier: MIT

// Package dsn writes the delivery status notifications Sendmail 8.17
// sends: the bounce ("Returned mail: see transcript for details"), the
// delay warning ("Warning: could not send message for past 4 hours") and
// the return receipt for NOTIFY=SUCCESS ("Return receipt"), as
// a multipart/report; report-type=delivery-status message (RFC 3464)
// with the human-readable part and its transcript of the session, the
// message/delivery-status part and the original message or its headers
// (RET=HDRS). ReturnTo decides who gets one: the sender, or for mail
// from the null sender (a failed notification) the postmaster, once.
//
// The package does not queue or send the notification, does not record
// the attempts (the queue runner does) and does not parse DSNs from other
// servers.
package dsn

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"mailsuite/internal/deliver"
)

// Kind says which notification a Report is.
type Kind int

const (
	// Failure is the bounce: some recipients failed for good.
	Failure Kind = iota
	// Delay is the warning sent at Timeout.queuewarn.
	Delay
	// Receipt is the "Return receipt" sent for recipients with
	// NOTIFY=SUCCESS once they are delivered here or relayed to a
	// server without DSN.
	Receipt
)

// Recipient is one recipient's status in a notification.
type Recipient struct {
	// Addr is the address as the sender gave it ("bad@outside.example").
	Addr string
	// Original is the ORCPT parameter's address, if the sender gave one
	// ("rfc822;x@y" without the type is taken as rfc822).
	Original string
	// Final is the Final-Recipient address; empty means Addr.
	Final string
	// Action is the Action field as sendmail writes it: "failed",
	// "delayed", "delivered (to mailbox)", "relayed (to non-DSN-aware
	// mailer)".
	Action string
	// Status is the enhanced status code ("5.1.1").
	Status string
	// RemoteMTA is the host that gave the reply ("[127.0.0.13]",
	// "mx.example.org."); empty leaves Remote-MTA out.
	RemoteMTA string
	// Diagnostic is the far side's reply ("550 5.1.1 <x>: User unknown"),
	// or for a local failure sendmail's own status ("550 5.1.1 User
	// unknown") or a mailer's exit status ("1"); empty leaves
	// Diagnostic-Code out.
	Diagnostic string
	// DiagnosticType is the Diagnostic-Code's type: "" means "SMTP" (a
	// far reply); local failures are "X-Unix".
	DiagnosticType string
	// Actual is the X-Actual-Recipient when it is not Final (a program
	// an alias expanded to: "|/bin/false"), ActualType its type ("" means
	// "rfc822"; programs are "X-Unix").
	Actual, ActualType string
	// ExpandedFrom is the alias the address was expanded from, for the
	// "(expanded from: …)" line; empty for none.
	ExpandedFrom string
	// Reason is the "(reason: …)" text of a failure; empty means
	// Diagnostic, or Status's text without one.
	Reason string
	// LastAttempt is the time of the last attempt; zero leaves
	// Last-Attempt-Date out.
	LastAttempt time.Time
}

// Report is one notification.
type Report struct {
	Kind Kind
	// Hostname is $j, the reporting MTA; Version is "$v/$Z"
	// ("8.17.1.9/8.17.1.9").
	Hostname, Version string
	// QueueID is the notification's own queue id, used in its Received,
	// Message-Id and MIME boundary.
	QueueID string
	// To is the recipient of the notification as its To: field shows
	// it: the sender as queued ("<a@b>" from SMTP, "a" from the command
	// line), or the postmaster (see ReturnTo).
	To string
	// Now is the notification's date; Arrival the original message's.
	Now, Arrival time.Time
	// ReceivedFrom is who the original came from ("root@localhost",
	// "pc7.hamap.local [127.1.0.7]"); ReceivedFromMTA, when set, adds a
	// Received-From-MTA field (the client's host name).
	ReceivedFrom, ReceivedFromMTA string
	// EnvID is the ENVID parameter of the original MAIL command, decoded
	// from xtext (see Unxtext) as sendmail reports it.
	EnvID string
	// Recipients are those the notification is about, in queue order.
	Recipients []Recipient
	// Transcript is the transcript of the session(s), LF-terminated lines
	// as Sendmail writes them ("... while talking to [127.0.0.13]:").
	Transcript string
	// WarnAfter is Timeout.queuewarn (Delay), ReturnAfter
	// Timeout.queuereturn ("Will keep trying until message is 5 days old").
	WarnAfter, ReturnAfter time.Duration
	// HeadersOnly is RET=HDRS: only the original headers are returned.
	HeadersOnly bool
	// Original is the original message as queued (the headers Sendmail
	// writes on delivery, including Return-Path and Received, then the
	// body), LF line ends; nil leaves the third part out.
	Original io.Reader
}

// ReturnTo says where the notification about a message from sender goes:
// to the sender, or, when the sender is the null address (the failed
// message was itself a notification), to doubleBounce (DoubleBounceAddress,
// "postmaster" by default). ok is false when nothing must be sent: a
// notification about a double bounce, or no DoubleBounceAddress.
func ReturnTo(sender, doubleBounce string, isDoubleBounce bool) (to string, ok bool) {
	sender = strings.TrimSuffix(strings.TrimPrefix(sender, "<"), ">")
	if sender != "" && !strings.EqualFold(localPart(sender), "MAILER-DAEMON") {
		return sender, true
	}
	if isDoubleBounce || doubleBounce == "" {
		return "", false
	}
	return doubleBounce, true
}

func localPart(a string) string {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return a[:i]
	}
	return a
}

// Subject is the notification's Subject text.
func (r *Report) Subject() string {
	switch r.Kind {
	case Delay:
		return "Warning: could not send message for past " + Interval(r.WarnAfter)
	case Receipt:
		return "Return receipt"
	}
	return "Returned mail: see transcript for details"
}

// Boundary is the MIME boundary Sendmail uses: "<qid>.<unix time>/<$j>".
func (r *Report) Boundary() string {
	return fmt.Sprintf("%s.%d/%s", r.QueueID, r.Now.Unix(), r.Hostname)
}

// Write writes the notification, headers first, with LF line ends (the
// form of a queued df file; the SMTP client adds the CRs).
func (r *Report) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	now := deliver.ArpaDate(r.Now)
	b := r.Boundary()
	auto := "failure"
	switch r.Kind {
	case Delay:
		auto = "warning-timeout"
	case Receipt:
		auto = "return-receipt"
	}
	fmt.Fprintf(bw, "Received: from localhost (localhost)\n\tby %s (%s) id %s;\n\t%s\n", r.Hostname, r.Version, r.QueueID, now)
	fmt.Fprintf(bw, "Date: %s\n", now)
	fmt.Fprintf(bw, "From: Mail Delivery Subsystem <MAILER-DAEMON@%s>\n", r.Hostname)
	fmt.Fprintf(bw, "Message-Id: <%s.%s@%s>\n", r.Now.Format("200601021504"), r.QueueID, r.Hostname)
	fmt.Fprintf(bw, "To: %s\n", r.To)
	fmt.Fprintf(bw, "MIME-Version: 1.0\n")
	fmt.Fprintf(bw, "Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"%s\"\n", b)
	fmt.Fprintf(bw, "Subject: %s\n", r.Subject())
	fmt.Fprintf(bw, "Auto-Submitted: auto-generated (%s)\n\n", auto)
	fmt.Fprintf(bw, "This is a MIME-encapsulated message\n\n--%s\n\n", b)
	r.writeText(bw)
	fmt.Fprintf(bw, "--%s\nContent-Type: message/delivery-status\n\n", b)
	r.writeStatus(bw)
	if r.Original != nil {
		// A return receipt never carries the body (sendmail's
		// RTSF_NO_BODY), whatever RET= said.
		hdrsOnly := r.HeadersOnly || r.Kind == Receipt
		ct := "message/rfc822"
		if hdrsOnly {
			ct = "text/rfc822-headers"
		}
		fmt.Fprintf(bw, "--%s\nContent-Type: %s\n\n", b, ct)
		if err := copyOriginal(bw, r.Original, hdrsOnly); err != nil {
			return fmt.Errorf("dsn: original message: %w", err)
		}
		bw.WriteString("\n")
	}
	fmt.Fprintf(bw, "--%s--\n\n", b)
	return bw.Flush()
}

// writeText is the human-readable part.
func (r *Report) writeText(w *bufio.Writer) {
	if r.Kind == Delay {
		w.WriteString("    **********************************************\n" +
			"    **      THIS IS A WARNING MESSAGE ONLY      **\n" +
			"    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **\n" +
			"    **********************************************\n\n")
	}
	fmt.Fprintf(w, "The original message was received at %s\nfrom %s\n\n", deliver.ArpaDate(r.Arrival), r.ReceivedFrom)
	if r.Kind == Failure {
		first := true
		for _, rc := range r.Recipients {
			if rc.Action != "failed" {
				continue
			}
			if first {
				w.WriteString("   ----- The following addresses had permanent fatal errors -----\n")
				first = false
			}
			fmt.Fprintf(w, "%s\n", rc.Addr)
			if why := rc.reason(); why != "" {
				fmt.Fprintf(w, "    (reason: %s)\n", why)
			}
			if rc.ExpandedFrom != "" {
				fmt.Fprintf(w, "    (expanded from: %s)\n", rc.ExpandedFrom)
			}
		}
		if !first {
			w.WriteString("\n")
		}
	}
	first := true
	for _, rc := range r.Recipients {
		what := rc.success()
		if what == "" {
			continue
		}
		if first {
			w.WriteString("   ----- The following addresses had successful delivery notifications -----\n")
			first = false
		}
		fmt.Fprintf(w, "%s  (%s)\n", rc.Addr, what)
		if rc.ExpandedFrom != "" {
			fmt.Fprintf(w, "    (expanded from: %s)\n", rc.ExpandedFrom)
		}
	}
	if !first {
		w.WriteString("\n")
	}
	if r.Transcript != "" || r.Kind == Delay {
		w.WriteString("   ----- Transcript of session follows -----\n")
		w.WriteString(r.Transcript)
		if r.Transcript != "" && !strings.HasSuffix(r.Transcript, "\n") {
			w.WriteString("\n")
		}
	}
	if r.Kind == Delay {
		fmt.Fprintf(w, "Warning: message still undelivered after %s\n", Interval(r.WarnAfter))
		fmt.Fprintf(w, "Will keep trying until message is %s old\n", Interval(r.ReturnAfter))
	}
	w.WriteString("\n")
}

// success is the text sendmail lists a recipient with under "successful
// delivery notifications", "" for one that is not such a recipient.
func (rc *Recipient) success() string {
	switch {
	case strings.HasPrefix(rc.Action, "relayed"):
		return "relayed to non-DSN-aware mailer"
	case strings.HasPrefix(rc.Action, "delivered"):
		return "successfully delivered to mailbox"
	}
	return ""
}

func (rc *Recipient) reason() string {
	switch {
	case rc.Reason != "":
		return rc.Reason
	case rc.Diagnostic != "":
		return rc.Diagnostic
	}
	return ""
}

// writeStatus is the message/delivery-status part (RFC 3464 §2.2, §2.3)
// with Sendmail's field order and its capitalisation of the type words.
func (r *Report) writeStatus(w *bufio.Writer) {
	if r.EnvID != "" {
		fmt.Fprintf(w, "Original-Envelope-Id: %s\n", r.EnvID)
	}
	fmt.Fprintf(w, "Reporting-MTA: dns; %s\n", r.Hostname)
	if r.ReceivedFromMTA != "" {
		fmt.Fprintf(w, "Received-From-MTA: DNS; %s\n", r.ReceivedFromMTA)
	}
	fmt.Fprintf(w, "Arrival-Date: %s\n", deliver.ArpaDate(r.Arrival))
	for _, rc := range r.Recipients {
		w.WriteString("\n")
		if rc.Original != "" {
			o := rc.Original
			if !strings.Contains(o, ";") {
				o = "rfc822;" + o
			}
			fmt.Fprintf(w, "Original-Recipient: %s\n", o)
		}
		final := rc.Final
		if final == "" {
			final = rc.Addr
		}
		fmt.Fprintf(w, "Final-Recipient: RFC822; %s\n", final)
		actual, atype := rc.Actual, rc.ActualType
		if actual == "" {
			actual = final
		}
		if atype == "" {
			atype = "rfc822"
		}
		fmt.Fprintf(w, "X-Actual-Recipient: %s; %s\n", atype, actual)
		fmt.Fprintf(w, "Action: %s\n", rc.Action)
		fmt.Fprintf(w, "Status: %s\n", rc.Status)
		if rc.RemoteMTA != "" {
			fmt.Fprintf(w, "Remote-MTA: DNS; %s\n", rc.RemoteMTA)
		}
		if rc.Diagnostic != "" {
			dt := rc.DiagnosticType
			if dt == "" {
				dt = "SMTP"
			}
			fmt.Fprintf(w, "Diagnostic-Code: %s; %s\n", dt, rc.Diagnostic)
		}
		if !rc.LastAttempt.IsZero() {
			fmt.Fprintf(w, "Last-Attempt-Date: %s\n", deliver.ArpaDate(rc.LastAttempt))
		}
	}
	w.WriteString("\n")
}

// Unxtext decodes RFC 3461 xtext ("env+2Bid" is "env+id") as sendmail's
// xuntextify does for the ENVID and ORCPT values it reports: each "+"
// followed by two hex digits is that byte; anything else is kept as it is.
func Unxtext(s string) string {
	if strings.IndexByte(s, '+') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '+' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ValidXtext reports whether s is xtext as sendmail's xtextok accepts
// it (the -V flag, ENVID=): printable ASCII without "=", and each "+"
// followed by two hex digits.
func ValidXtext(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		case c < '!' || c > '~' || c == '=':
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f')
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// copyOriginal copies the message, or with headersOnly its header lines
// without the blank line that ends them.
func copyOriginal(w *bufio.Writer, r io.Reader, headersOnly bool) error {
	if !headersOnly {
		_, err := io.Copy(w, r)
		return err
	}
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if strings.TrimRight(line, "\r\n") == "" {
			if err == io.EOF || err == nil {
				return nil
			}
		}
		w.WriteString(line)
		if err == io.EOF {
			if !strings.HasSuffix(line, "\n") {
				w.WriteString("\n")
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Interval formats a duration as Sendmail's pintvl does in notifications:
// "4 hours", "1 second", "5 days", "1 hour, 30 minutes".
func Interval(d time.Duration) string {
	s := int64(d / time.Second)
	units := []struct {
		n    int64
		name string
	}{{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}}
	var parts []string
	for _, u := range units {
		if v := s / u.n; v > 0 {
			p := fmt.Sprintf("%d %s", v, u.name)
			if v != 1 {
				p += "s"
			}
			parts = append(parts, p)
			s -= v * u.n
		}
	}
	if len(parts) == 0 {
		return "0 seconds"
	}
	return strings.Join(parts, ", ")
}
