// SPDX-License-Identifier: MIT

package smtpd

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"mailsuite/pkg/cf"
)

// StdioOptions describe a "sendmail -bs" session: SMTP on the invoking
// process's standard input and output.
type StdioOptions struct {
	// User is the invoking user's login name. The session's client is
	// "<User>@localhost" in log lines, in the EHLO reply and in the
	// Received header ($_), as sendmail's getauthinfo names a client
	// that is not a socket.
	User string
	// Privileged is set when the real uid is 0 or TrustedUser: only
	// such a caller may ETRN (srvrsmtp.c refuses others in -bs mode).
	Privileged bool
}

// ServeStdio answers one SMTP session read from r and written to w with
// the same front, replies, policy and spool as the daemon. The client
// is local: it has no {client_addr}, so check_relay does not run and
// relaying is allowed as the stock rulesets allow it for a local
// submission. The listener name is empty, so log lines carry no daemon=,
// and a session without a transaction is logged as "… did not issue
// MAIL/EXPN/VRFY/ETRN during connection to stdin". ServeStdio returns
// when the session ends (QUIT or end of input).
func (s *Server) ServeStdio(r io.Reader, w io.Writer, o StdioOptions) error {
	if o.User == "" {
		o.User = "root"
	}
	c := &stdioConn{r: r, w: w, opts: o, done: make(chan struct{})}
	ln := &stdioListener{conn: c}
	err := s.Serve(ln, cf.PortOptions{})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	// Serve returns once the session closed the connection; the front
	// has logged the end of the session by then.
	return nil
}

// stdioUnprivileged reports a -bs session of a user who may not ETRN.
func (s *Server) stdioUnprivileged(st *connState) bool {
	return st.local != nil && !st.local.Privileged
}

// stdioListener hands go-smtp one connection, then reports itself
// closed when that connection ends.
type stdioListener struct {
	conn *stdioConn
	once sync.Once
}

func (l *stdioListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.conn.done
	return nil, net.ErrClosed
}

func (l *stdioListener) Close() error   { l.conn.Close(); return nil }
func (l *stdioListener) Addr() net.Addr { return stdioAddr{} }

// stdioConn is standard input and output as a net.Conn. Deadlines are
// not applied: sendmail -bs reads its input as long as it comes.
type stdioConn struct {
	r    io.Reader
	w    io.Writer
	opts StdioOptions
	mu   sync.Mutex
	done chan struct{}
	shut bool
}

func (c *stdioConn) Read(p []byte) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	return c.r.Read(p)
}

func (c *stdioConn) Write(p []byte) (int, error) { return c.w.Write(p) }

func (c *stdioConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.shut {
		c.shut = true
		close(c.done)
	}
	return nil
}

func (c *stdioConn) LocalAddr() net.Addr                { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr               { return stdioAddr{} }
func (c *stdioConn) SetDeadline(t time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(t time.Time) error { return nil }

// stdioAddr is the address of a stdio connection; it parses as no IP,
// so the client has no {client_addr}.
type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdin" }
