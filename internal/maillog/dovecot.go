// SPDX-License-Identifier: MIT

package maillog

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// The Dovecot events, as Dovecot 2.3 writes them to syslog under the tag
// "dovecot" (or instance_name) with no pid: each line starts with the
// process name ("imap-login: ", "imap(b)<pid><session>: ").

// DovecotStarting logs "master: Dovecot v2.3.19.1 (9b53102964) starting
// up for imap, pop3 (core dumps disabled)".
func (l *Logger) DovecotStarting(version string, protocols []string) {
	l.Logf(MailInfo, "master: Dovecot v%s starting up for %s (core dumps disabled)", version, strings.Join(protocols, ", "))
}

// Login describes a login-process event.
type Login struct {
	Service string // "imap-login", "pop3-login"
	User    string // "" prints user=<>
	Method  string // "PLAIN"; "" leaves method= out
	RIP     string
	LIP     string
	MPID    int    // mail process pid, for successful logins
	TLS     bool   // ", TLS"
	Secured bool   // ", secured" (not TLS, but trusted: same IP)
	Session string // session id, from SessionID
}

// fields renders "user=<b>, method=PLAIN, rip=…, lip=…[, mpid=…][, TLS],
// session=<…>".
func (g Login) fields(withMPID bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "user=<%s>", g.User)
	if g.Method != "" {
		fmt.Fprintf(&b, ", method=%s", g.Method)
	}
	fmt.Fprintf(&b, ", rip=%s, lip=%s", g.RIP, g.LIP)
	if withMPID && g.MPID != 0 {
		fmt.Fprintf(&b, ", mpid=%d", g.MPID)
	}
	if g.TLS {
		b.WriteString(", TLS")
	} else if g.Secured {
		b.WriteString(", secured")
	}
	fmt.Fprintf(&b, ", session=<%s>", g.Session)
	return b.String()
}

// LoginOK logs "imap-login: Login: user=<b>, method=PLAIN, rip=…,
// lip=…, mpid=…, session=<…>".
func (l *Logger) LoginOK(g Login) {
	l.Logf(MailInfo, "%s: Login: %s", g.Service, g.fields(true))
}

// LoginAborted logs a login connection that ended without a login, e.g.
// reason "Aborted login by logging out (auth failed, 1 attempts in 5
// secs)" or "Disconnected (no auth attempts in 1 secs)": "imap-login:
// Disconnected: <reason>: user=<…>, …". fail2ban's dovecot filter reads
// the "auth failed" form.
func (l *Logger) LoginAborted(reason string, g Login) {
	l.Logf(MailInfo, "%s: %s: %s", g.Service, reason, g.fields(false))
}

// MailSession names a mail process's log prefix:
// "imap(b)<20114><CRjnmDdhb7l/AAAU>".
func MailSession(proto, user string, pid int, session string) string {
	return fmt.Sprintf("%s(%s)<%d><%s>", proto, user, pid, session)
}

// Disconnected logs "<prefix>: Disconnected: <reason> <stats>", e.g.
// reason "Logged out" and stats "in=68 out=2047 deleted=0 expunged=0
// trashed=0 hdr_count=0 hdr_bytes=0 body_count=1 body_bytes=664".
func (l *Logger) Disconnected(prefix, reason, stats string) {
	msg := fmt.Sprintf("%s: Disconnected: %s", prefix, reason)
	if stats != "" {
		msg += " " + stats
	}
	l.Log(MailInfo, msg)
}

// SessionID makes a Dovecot-style session id: 12 bytes in base64 (16
// characters), the first 8 from the clock and randomness, the last 4 the
// client's IPv4 address (or the low bytes of an IPv6 one), as Dovecot's
// ids end in the address ("…/AAAU" for 127.0.0.20).
func SessionID(now time.Time, remote netip.Addr) string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(now.UnixMicro()))
	rand.Read(b[4:8])
	a := remote.Unmap().As16()
	copy(b[8:], a[12:])
	return base64.StdEncoding.EncodeToString(b[:])
}
