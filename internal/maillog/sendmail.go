// SPDX-License-Identifier: MIT

package maillog

import (
	"fmt"
	"strings"
	"time"
)

// The Sendmail events. Each function writes exactly the line Sendmail
// 8.17 writes for the event (shared/reference/anchor-behaviour.md §10);
// qid is the queue id the line is prefixed with ("" for none).

func withQID(qid, msg string) string {
	if qid == "" {
		return msg
	}
	return qid + ": " + msg
}

// Relay formats a client for relay= fields and connection messages:
// "name [ip]" when the client's name was validated, "[ip]" otherwise,
// with " (may be forged)" when the PTR name did not resolve back.
func Relay(name, ip string, forged bool) string {
	s := "[" + ip + "]"
	if name != "" {
		s = name + " " + s
	}
	if forged {
		s += " (may be forged)"
	}
	return s
}

// StartingDaemon logs "starting daemon (8.17.1.9): SMTP" (modes as
// Sendmail lists them: "SMTP", "SMTP+queueing@00:30:00", "queueing@…").
func (l *Logger) StartingDaemon(version, modes string) {
	l.Logf(MailInfo, "starting daemon (%s): %s", version, modes)
}

// From describes an accepted (or abandoned) envelope: the first line of
// each transaction.
type From struct {
	Sender   string // as Sendmail shows it: "<a@hamap.local>", "root", "<>"
	Size     int64
	Class    int
	NRcpts   int
	MsgID    string // "" leaves msgid= out
	BodyType string // "8BITMIME" / "7BIT"; "" leaves bodytype= out
	Proto    string // "ESMTP", "SMTP"; "" (local submission) leaves it out
	Daemon   string // DaemonPortOptions Name; "" leaves it out
	Relay    string // Relay(...) or "root@localhost"
}

// From logs "<qid>: from=<a>, size=N, class=0, nrcpts=N, msgid=<…>,
// proto=ESMTP, daemon=MTA, relay=[ip]".
func (l *Logger) From(qid string, f From) {
	var b strings.Builder
	fmt.Fprintf(&b, "from=%s, size=%d, class=%d, nrcpts=%d", f.Sender, f.Size, f.Class, f.NRcpts)
	if f.MsgID != "" {
		fmt.Fprintf(&b, ", msgid=%s", f.MsgID)
	}
	if f.BodyType != "" {
		fmt.Fprintf(&b, ", bodytype=%s", f.BodyType)
	}
	if f.Proto != "" {
		fmt.Fprintf(&b, ", proto=%s", f.Proto)
	}
	if f.Daemon != "" {
		fmt.Fprintf(&b, ", daemon=%s", f.Daemon)
	}
	fmt.Fprintf(&b, ", relay=%s", f.Relay)
	l.Log(MailInfo, withQID(qid, b.String()))
}

// To describes one delivery attempt.
type To struct {
	Rcpt    string        // "<b@hamap.local>" or "b@hamap.local"
	CtlAddr string        // "<a@hamap.local> (1023/1023)"; "" leaves it out
	Delay   time.Duration // since the message was queued
	XDelay  time.Duration // this attempt
	Mailer  string
	Pri     int64
	Relay   string // "smtp.isp.example. [127.0.0.13]"; "" leaves it out
	DSN     string // "2.0.0"
	// Reply is the far server's reply to a recipient that was not sent
	// ("550 5.1.1 <x>... User unknown"); "" leaves reply= out.
	Reply string
	Stat  string // "Sent", "Sent (2.0.0 Ok: queued as x)", "Deferred: …"
}

// To logs "<qid>: to=<b>, ctladdr=<a> (1023/1023), delay=00:00:00,
// xdelay=00:00:00, mailer=local, pri=30619, dsn=2.0.0, stat=Sent".
func (l *Logger) To(qid string, t To) {
	var b strings.Builder
	fmt.Fprintf(&b, "to=%s", t.Rcpt)
	if t.CtlAddr != "" {
		fmt.Fprintf(&b, ", ctladdr=%s", t.CtlAddr)
	}
	fmt.Fprintf(&b, ", delay=%s, xdelay=%s, mailer=%s, pri=%d", Duration(t.Delay), Duration(t.XDelay), t.Mailer, t.Pri)
	if t.Relay != "" {
		fmt.Fprintf(&b, ", relay=%s", t.Relay)
	}
	fmt.Fprintf(&b, ", dsn=%s", t.DSN)
	if t.Reply != "" {
		fmt.Fprintf(&b, ", reply=%s", t.Reply)
	}
	fmt.Fprintf(&b, ", stat=%s", t.Stat)
	l.Log(MailInfo, withQID(qid, b.String()))
}

// Duration formats a delay as Sendmail's pintvl does: "HH:MM:SS", with a
// "D+" day prefix past a day.
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	days, s := s/86400, s%86400
	hms := fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
	if days > 0 {
		return fmt.Sprintf("%d+%s", days, hms)
	}
	return hms
}

// Reject logs a ruleset rejection: "<qid>: ruleset=check_rcpt,
// arg1=<x>, relay=[ip], reject=550 5.7.1 <x>... Relaying denied".
func (l *Logger) Reject(qid, ruleset, arg1, relay, reply string) {
	l.Logf(MailNotice, "%s", withQID(qid, fmt.Sprintf("ruleset=%s, arg1=%s, relay=%s, reject=%s", ruleset, arg1, relay, reply)))
}

// RejectRelay logs a check_relay rejection, which has no arg1 but
// arg2 (the address): "ruleset=check_relay, arg1=name, arg2=ip,
// relay=name [ip], reject=…".
func (l *Logger) RejectRelay(qid, name, ip, relay, reply string) {
	l.Logf(MailNotice, "%s", withQID(qid, fmt.Sprintf("ruleset=check_relay, arg1=%s, arg2=%s, relay=%s, reject=%s", name, ip, relay, reply)))
}

// NoTransaction logs "[ip] did not issue MAIL/EXPN/VRFY/ETRN during
// connection to MTA" (daemon is the DaemonPortOptions Name, or "stdin").
func (l *Logger) NoTransaction(qid, relay, daemon string) {
	l.Log(MailInfo, withQID(qid, fmt.Sprintf("%s did not issue MAIL/EXPN/VRFY/ETRN during connection to %s", relay, daemon)))
}

// AddrError logs an address-level failure such as "<x>... User unknown".
func (l *Logger) AddrError(qid, addr, text string) {
	l.Log(MailInfo, withQID(qid, fmt.Sprintf("%s... %s", addr, text)))
}

// SMTPAttack logs "[ip]: possible SMTP attack: command=HELO/EHLO,
// count=3".
func (l *Logger) SMTPAttack(qid, relay, command string, count int) {
	l.Log(MailNotice, withQID(qid, fmt.Sprintf("%s: possible SMTP attack: command=%s, count=%d", relay, command, count)))
}

// VrfyRejected logs "[ip]: VRFY b [rejected]" (cmd "VRFY" or "EXPN").
func (l *Logger) VrfyRejected(qid, relay, cmd, arg string) {
	l.Log(MailNotice, withQID(qid, fmt.Sprintf("%s: %s %s [rejected]", relay, cmd, arg)))
}

// AuthFailure logs a failed SMTP AUTH as Sendmail does with Cyrus SASL:
// "AUTH failure (PLAIN): authentication failure (-13) SASL(-13):
// authentication failure: Password verification failed, user=b,
// relay=[ip]". user "" leaves user= out.
func (l *Logger) AuthFailure(qid, mech, user, relay string) {
	u := ""
	if user != "" {
		u = "user=" + user + ", "
	}
	l.Log(MailWarn, withQID(qid, fmt.Sprintf("AUTH failure (%s): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, %srelay=%s", mech, u, relay)))
}

// AuthOK logs "AUTH=server, relay=[ip], authid=b, mech=PLAIN, bits=0".
func (l *Logger) AuthOK(qid, relay, authid, mech string) {
	l.Log(MailInfo, withQID(qid, fmt.Sprintf("AUTH=server, relay=%s, authid=%s, mech=%s, bits=0", relay, authid, mech)))
}

// AliasRebuilt logs "alias database /etc/mail/aliases rebuilt by root".
func (l *Logger) AliasRebuilt(path, by string) {
	l.Logf(MailNotice, "alias database %s rebuilt by %s", path, by)
}

// AliasStats logs "/etc/mail/aliases: 11 aliases, longest 10 bytes,
// 113 bytes total".
func (l *Logger) AliasStats(path string, n, longest, total int) {
	l.Logf(MailInfo, "%s: %d aliases, longest %d bytes, %d bytes total", path, n, longest, total)
}

// DSN logs the notification sendmail queued about message qid:
// "<qid>: <dsnqid>: DSN: User unknown", or with postmaster set (a
// notification about a failed notification, sent to the postmaster)
// "<qid>: <dsnqid>: postmaster notify: User unknown". msg is the
// failure's text or the warning's subject line.
func (l *Logger) DSN(qid, dsnQID, msg string, postmaster bool) {
	kind := "DSN"
	if postmaster {
		kind = "postmaster notify"
	}
	l.Log(MailInfo, withQID(qid, fmt.Sprintf("%s: %s: %s", dsnQID, kind, msg)))
}

// AuthClient logs our successful SMTP AUTH to another server (client
// side): "AUTH=client, relay=smtp.isp.example, mech=PLAIN, bits=0",
// without a queue id as sendmail writes it.
func (l *Logger) AuthClient(relay, mech string) {
	l.Log(MailInfo, fmt.Sprintf("AUTH=client, relay=%s, mech=%s, bits=0", relay, mech))
}
