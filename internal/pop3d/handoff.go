// SPDX-License-Identifier: MIT

package pop3d

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"mailsuite/internal/dovecotauth"
)

// Handoff describes a logged-in session leaving the login process for a
// mail process running as the user (privilege separation; see
// internal/privsep). The mail process opens the maildrop, sends
// "+OK Logged in." and runs the TRANSACTION state (ServeHandoff).
type Handoff struct {
	User User `json:"user"`
	// Pending are client bytes read after the login and not yet served
	// (PIPELINING).
	Pending []byte     `json:"pending,omitempty"`
	Local   netip.Addr `json:"lip"`
	Remote  netip.Addr `json:"rip"`
	TLS     bool       `json:"tls,omitempty"`
	Session string     `json:"session"`
	Start   time.Time  `json:"start"`

	// Conn is the client connection: a plain TCP connection, or a TLS
	// one the login process keeps proxying.
	Conn net.Conn `json:"-"`
}

// HandoffFunc hands a session to a mail process; see imapd.HandoffFunc.
type HandoffFunc func(h *Handoff, logged func(mpid int)) error

// handoff gives the logged-in session to the mail process. It returns
// false when that failed (the reply is written).
func (s *session) handoff(u User, method string) bool {
	h := &Handoff{User: u, Local: s.lip, Remote: s.rip, TLS: s.tls, Session: s.id, Start: s.start, Conn: s.conn}
	if n := s.br.Buffered(); n > 0 {
		b, _ := s.br.Peek(n)
		h.Pending = append([]byte(nil), b...)
	}
	err := s.srv.cfg.Handoff(h, func(mpid int) {
		if s.srv.cfg.Log != nil {
			g := s.loginInfo(u.Name, method)
			g.MPID = mpid
			s.srv.cfg.Log.LoginOK(g)
		}
	})
	var refused *dovecotauth.MailAccessError
	if errors.As(err, &refused) {
		// Dovecot's mail process refusing the user: the login
		// succeeded, the session cannot start.
		s.account = u.Name
		s.logLoginOK(u.Name, method)
		s.srv.logf("%s: Error: %s", s.prefix(), refused.Reason)
		writeLine(s.bw, replyInternal)
		s.bw.Flush()
		s.logDisconnect("Internal error occurred. Refer to server log for more information.")
		return false
	}
	if err != nil {
		s.srv.logf("pop3-login: Error: %v: user=<%s>, rip=%s, lip=%s, session=<%s>", err, u.Name, s.rip, s.lip, s.id)
		writeLine(s.bw, replyInternal)
		s.bw.Flush()
		return false
	}
	s.handedOff = true
	return true
}

// Worker serves the sessions login processes hand over (the mail
// process's side).
type Worker struct {
	srv *server
	wg  sync.WaitGroup
}

// NewWorker returns a mail process's POP3 server for cfg (Auth unused).
func NewWorker(cfg Config) (*Worker, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	srv := &server{cfg: cfg, conns: map[*session]struct{}{}}
	srv.uidl, _ = parseUIDLFormat(cfg.uidlFormat())
	return &Worker{srv: srv}, nil
}

// ServeHandoff runs a handed-over session on conn (the client connection
// or the proxy's end) until it ends, then calls done.
func (w *Worker) ServeHandoff(ctx context.Context, conn net.Conn, h *Handoff, done func()) {
	srv := w.srv
	s := &session{srv: srv, conn: conn, start: h.Start, rip: h.Remote, lip: h.Local, id: h.Session, tls: h.TLS}
	srv.mu.Lock()
	srv.conns[s] = struct{}{}
	srv.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer done()
		defer func() {
			if r := recover(); r != nil {
				slog.Error("pop3 session panic", "panic", r, "stack", string(debug.Stack()))
			}
			srv.mu.Lock()
			delete(srv.conns, s)
			srv.mu.Unlock()
			conn.Close()
		}()
		var c net.Conn = conn
		if len(h.Pending) > 0 {
			c = &prefixConn{Conn: conn, pre: h.Pending}
		}
		s.setConn(c)
		s.account = h.User.Name
		if errReply := s.open(ctx, h.User); errReply != "" {
			writeLine(s.bw, errReply)
			s.bw.Flush()
			s.logDisconnect("Couldn't open INBOX")
			return
		}
		writeLine(s.bw, replyLoggedIn)
		s.transaction(ctx)
	}()
}

// Shutdown ends the sessions (Dovecot's "Server shutting down.") and
// waits for them.
func (w *Worker) Shutdown() {
	w.srv.shutdown()
	w.wg.Wait()
}

// prefixConn reads pre before the connection.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
