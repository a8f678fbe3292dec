// SPDX-License-Identifier: MIT

package pop3d

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strconv"

	"strings"
	"sync/atomic"
	"time"

	"mailsuite/internal/maillog"
)

// maxLine is Dovecot's MAX_INBUF_SIZE for POP3 command lines.
const maxLine = 2048

// maxBadLogin and maxBad are the consecutive bad commands Dovecot's
// pop3-login and pop3 accept before disconnecting.
const (
	maxBadLogin = 3
	maxBad      = 20
)

type session struct {
	srv      *server
	conn     net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	tls      bool
	rip, lip netip.Addr
	id       string
	start    time.Time
	stopping atomic.Bool

	handedOff bool // logged in, continued by a mail process

	// AUTHORIZATION state
	user         string // from USER
	userSet      bool
	lastUser     string // the last user who tried to log in
	attempts     int
	failed       bool
	plainRefused bool
	bad          int

	// TRANSACTION state
	account      string
	drop         *maildrop
	expungedSeen map[int]bool // messages found expunged by RETR/TOP
	lock         *sessionLock
	stats        stats
	inBytes      int64
	outBytes     *countWriter
}

// stats are the counters pop3_logout_format reports.
type stats struct {
	top, retr           int
	topBytes, retrBytes int64
	delSuccess          bool
}

type countWriter struct {
	w net.Conn
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newSession(srv *server, c net.Conn) *session {
	s := &session{srv: srv, conn: c, start: time.Now()}
	s.rip, s.lip = addrOf(c.RemoteAddr()), addrOf(c.LocalAddr())
	s.id = maillog.SessionID(s.start, s.rip)
	return s
}

func (s *session) setConn(c net.Conn) {
	s.conn = c
	s.outBytes = &countWriter{w: c}
	s.br = bufio.NewReaderSize(c, maxLine)
	s.bw = bufio.NewWriterSize(s.outBytes, 64*1024)
}

func (s *session) secured() bool { return s.srv.secured(s.tls, s.rip, s.lip) }

// plaintextOK tells whether USER/PASS and the plaintext SASL mechanisms
// may be used on this connection.
func (s *session) plaintextOK() bool {
	if s.secured() {
		return true
	}
	return s.srv.cfg.AllowPlaintext && s.srv.cfg.SSL != "required"
}

func (s *session) run(ctx context.Context) {
	c := s.conn
	if s.srv.cfg.ImplicitTLS {
		tc := tls.Server(c, s.srv.cfg.TLS)
		tc.SetDeadline(time.Now().Add(s.srv.loginTimeout()))
		if err := tc.HandshakeContext(ctx); err != nil {
			s.logLoginEnd("Disconnected (no auth attempts in 0 secs)")
			return
		}
		tc.SetDeadline(time.Time{})
		c, s.tls = tc, true
	}
	s.setConn(c)
	writeLine(s.bw, s.srv.greeting())
	s.bw.Flush()
	if !s.authorization(ctx) {
		return
	}
	s.transaction(ctx)
}

// readLine reads one command line without its line end. ok is false when
// the session must end; the reason is logged by the caller.
func (s *session) readLine(timeout time.Duration) (line string, reason string, ok bool) {
	// A client that stops reading our output is dropped after the same
	// time as one that stops sending (Dovecot: "Disconnected for
	// inactivity in reading our output").
	s.conn.SetWriteDeadline(time.Now().Add(timeout))
	if s.br.Buffered() == 0 {
		if err := s.bw.Flush(); err != nil {
			return "", "Connection closed", false
		}
	}
	if s.stopping.Load() {
		return "", "Server shutting down.", false
	}
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	b, err := s.br.ReadSlice('\n')
	s.inBytes += int64(len(b))
	if err != nil {
		// Room for the last reply.
		s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	}
	switch {
	case err == nil:
	case errors.Is(err, bufio.ErrBufferFull):
		return "", "Input line too long", false
	case s.stopping.Load():
		return "", "Server shutting down.", false
	case isTimeout(err):
		return "", "Inactivity", false
	default:
		// EOF, also after a last line without LF, which Dovecot
		// ignores too.
		return "", "Connection closed", false
	}
	b = bytes.TrimSuffix(b[:len(b)-1], []byte("\r"))
	return string(b), "", true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// splitCommand splits at the first space, as Dovecot does: the rest is the
// argument string, which may hold further spaces (PASS).
func splitCommand(line string) (name, args string) {
	name, args, _ = strings.Cut(line, " ")
	return upper(name), args
}

func (s *session) secs() int { return int(time.Since(s.start) / time.Second) }

// loginInfo describes the connection for the login process's log lines.
func (s *session) loginInfo(user, method string) maillog.Login {
	return maillog.Login{
		Service: "pop3-login", User: user, Method: method,
		RIP: s.rip.String(), LIP: s.lip.String(), TLS: s.tls,
		Secured: !s.tls && s.secured(), Session: s.id, MPID: pid,
	}
}

// logLoginEnd logs a connection that ended before login:
// "pop3-login: Disconnected: <reason>: user=<…>, rip=…", or for a
// client that just went away "pop3-login: Disconnected (…): user=<…>".
func (s *session) logLoginEnd(reason string) {
	if s.srv.cfg.Log == nil {
		return
	}
	if !strings.HasPrefix(reason, "Disconnected") {
		reason = "Disconnected: " + reason
	}
	u := s.lastUser
	if u == "" {
		u = s.user
	}
	g := s.loginInfo(u, "")
	g.MPID = 0
	s.srv.cfg.Log.LoginAborted(reason, g)
}

// authDetail is the parenthesised part of Dovecot's aborted-login reason.
func (s *session) authDetail() string {
	switch {
	case s.failed:
		return "(auth failed, " + itoa(s.attempts) + " attempts in " + itoa(s.secs()) + " secs)"
	case s.plainRefused:
		return "(tried to use disallowed plaintext auth)"
	}
	return "(no auth attempts in " + itoa(s.secs()) + " secs)"
}

func itoa(n int) string { return strconv.Itoa(n) }
