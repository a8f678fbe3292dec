// SPDX-License-Identifier: MIT

package imapd

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"

	"mailsuite/internal/dovecotauth"
	"mailsuite/internal/maillog"
)

// Handoff describes a logged-in session leaving the login process for a
// mail process running as the user (privilege separation; see
// internal/privsep). The mail process continues it with ServeHandoff: it
// sends the login's tagged OK itself, so the client sees one unbroken
// session, and its logout line counts the bytes from there.
type Handoff struct {
	User User `json:"user"`
	// Tag is the LOGIN or AUTHENTICATE command's tag.
	Tag string `json:"tag"`
	// Pending are client bytes read after the login command and not yet
	// served (pipelined commands).
	Pending []byte     `json:"pending,omitempty"`
	Local   netip.Addr `json:"lip"`
	Remote  netip.Addr `json:"rip"`
	Secured bool       `json:"secured,omitempty"`
	TLS     bool       `json:"tls,omitempty"`
	Session string     `json:"session"`
	Start   time.Time  `json:"start"`

	// Conn is the client connection below the IMAP layer: a plain TCP
	// connection, or a TLS one the login process keeps proxying.
	Conn net.Conn `json:"-"`
}

// HandoffFunc hands a session to a mail process. It calls logged with
// the mail process's pid once it is chosen and before the session is
// sent (so that the login line comes first in the log). An error means
// the session was not sent and the connection is still the caller's; a
// *dovecotauth.MailAccessError is the mail process refusing the user,
// answered as Dovecot does ("Logged in, but initialization failed").
type HandoffFunc func(h *Handoff, logged func(mpid int)) error

// errHandedOff ends the library's handling of a login whose session went
// to a mail process; nobody sees it (the connection is detached).
var errHandedOff = errors.New("session handed to a mail process")

// handoff gives the logged-in session to the mail process.
func (s *Session) handoff(u User, method string) error {
	c := s.st.conn
	conn, _ := c.peek()
	h := &Handoff{User: u, Tag: c.authTag(), Local: s.st.local, Remote: s.st.remote,
		Secured: s.st.secured && !s.isTLS(), TLS: s.isTLS(), Session: s.st.session, Start: s.st.start, Conn: conn}
	h.Pending = c.rbuf
	err := s.srv.cfg.Handoff(h, func(mpid int) {
		if lg := s.srv.cfg.Log; lg != nil {
			g := s.loginFields(u.Name)
			g.Method, g.MPID = method, mpid
			lg.LoginOK(g)
		}
	})
	var refused *dovecotauth.MailAccessError
	if errors.As(err, &refused) {
		return s.refuseMail(u, refused.Reason)
	}
	if err != nil {
		if lg := s.srv.cfg.Log; lg != nil {
			lg.Logf(maillog.MailErr, "imap-login: Error: %v: user=<%s>, rip=%s, lip=%s, session=<%s>", err, u.Name, s.st.remote, s.st.local, s.st.session)
		}
		return errInternal
	}
	c.detach()
	s.handedOff = true
	return errHandedOff
}

// peek returns the connection below and the client bytes not yet served,
// leaving both in place.
func (c *rewriteConn) peek() (net.Conn, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn, c.rbuf
}

// refuseMail is Dovecot's refusal of a mail process for uid 0 (and of a
// user without uid when the daemon runs as root): the login succeeds, the
// mail process fails to start.
func (s *Session) refuseMail(u User, why string) error {
	s.srv.pen.Succeed(s.st.remote)
	s.st.conn.initFailed()
	s.initFailed = true
	if lg := s.srv.cfg.Log; lg != nil {
		g := s.loginFields(u.Name)
		g.Method, g.MPID = "PLAIN", os.Getpid()
		lg.LoginOK(g)
		lg.Logf(maillog.MailErr, "imap(%s)<%d><%s>: Error: %s", u.Name, os.Getpid(), s.st.session, why)
	}
	return nil
}

// ServeHandoff continues, in the mail process, a session the login
// process handed over: conn is the client connection (or the proxy's
// end). done is called when the session has ended. Sessions end with
// Close like any other.
func (s *Server) ServeHandoff(conn net.Conn, h *Handoff, done func()) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		conn.Close()
		return net.ErrClosed
	}
	if s.handoffLn == nil {
		s.handoffLn = &chanListener{addr: conn.LocalAddr(), ch: make(chan net.Conn), done: make(chan struct{})}
		s.handoffSrv = s.mk(true, nil)
		s.wg.Add(1)
		ln, srv := s.handoffLn, s.handoffSrv
		go func() {
			defer s.wg.Done()
			srv.Serve(ln)
		}()
	}
	ln := s.handoffLn
	s.mu.Unlock()
	st := &connState{srv: s, local: h.Local, remote: h.Remote, secured: h.Secured, tls: h.TLS,
		start: h.Start, session: h.Session, handoff: h, done: done}
	var nc net.Conn = conn
	if len(h.Pending) > 0 {
		nc = &prefixConn{Conn: conn, pre: h.Pending}
	}
	w := newRewriteConn(nc, st)
	w.limit = false
	st.conn = w
	s.mu.Lock()
	s.conns[st] = struct{}{}
	s.mu.Unlock()
	if !ln.deliver(w) {
		conn.Close()
		s.forget(st)
		return net.ErrClosed
	}
	return nil
}

// preAuthReply turns the library's PREAUTH greeting of a handed-over
// session into the tagged OK of its login, as Dovecot's imap process
// sends it.
func preAuthReply(tag, line string) (string, bool) {
	rest, ok := strings.CutPrefix(line, "* PREAUTH ")
	if !ok || !strings.HasPrefix(rest, "[CAPABILITY ") {
		return "", false
	}
	i := strings.Index(rest, "] ")
	if i < 0 {
		return "", false
	}
	return tag + " OK " + rest[:i+2] + "Logged in\r\n", true
}

// handoffSession is newSession for a handed-over session: logged in
// already, greeted with PREAUTH (rewritten to the login's OK).
func (s *Server) handoffSession(st *connState, c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	h := st.handoff
	f, err := s.folders(h.User)
	if err != nil {
		// No Session, so no Close: settle here what Close would.
		s.wg.Done()
		s.forget(st)
		if st.done != nil {
			st.done()
		}
		return nil, nil, err
	}
	return &Session{srv: s, st: st, conn: c, user: h.User, folders: f, loggedIn: true}, &imapserver.GreetingData{PreAuth: true}, nil
}
