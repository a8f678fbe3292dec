// SPDX-License-Identifier: MIT

package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailsuite/internal/maillog"
	"mailsuite/pkg/doveconf"
	"mailsuite/pkg/mbox"
)

// Dovecot's reply texts after login (dovecot-protocol.md).
var (
	errAuthFailed = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Authentication failed."}
	errInternal   = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Internal error occurred. Refer to server log for more information."}
	errNotMbox    = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Mailbox isn't a valid mbox file"}
	errLockTime   = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Timeout while waiting for lock"}
)

func errNoMailbox(name string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "Mailbox doesn't exist: " + name}
}

// Session is one IMAP connection's state; it implements imapserver's
// Session, SessionNamespace and SessionMove.
type Session struct {
	srv  *Server
	st   *connState
	conn *imapserver.Conn

	user     User
	loggedIn bool
	folders  *mbox.Folders
	attempts int
	lastUser string

	sel *selected

	initFailed bool // logged in, refused by first/last_valid_uid
	handedOff  bool // logged in, continued by a mail process

	stats struct{ deleted, expunged int }
}

var (
	_ imapserver.SessionNamespace = (*Session)(nil)
	_ imapserver.SessionMove      = (*Session)(nil)
)

func (s *Session) ctx() context.Context { return context.Background() }

// Close implements imapserver.Session: it logs the disconnection as
// Dovecot does and releases the selected mailbox.
func (s *Session) Close() error {
	defer s.srv.wg.Done()
	if s.sel != nil {
		s.sel.close()
		s.sel = nil
	}
	s.srv.forget(s.st)
	if s.st.done != nil {
		defer s.st.done()
	}
	lg := s.srv.cfg.Log
	if lg == nil || s.initFailed || s.handedOff {
		return nil
	}
	if !s.loggedIn {
		secs := int(time.Since(s.st.start).Seconds())
		detail := fmt.Sprintf("no auth attempts in %d secs", secs)
		if s.attempts > 0 {
			detail = fmt.Sprintf("auth failed, %d attempts in %d secs", s.attempts, secs)
		}
		s.st.conn.mu.Lock()
		logout := s.st.conn.sawLogout
		s.st.conn.mu.Unlock()
		reason := "Disconnected (" + detail + ")"
		if logout {
			reason = "Disconnected: Aborted login by logging out (" + detail + ")"
		}
		g := s.loginFields(s.lastUser)
		if s.attempts > 0 {
			g.Method = "PLAIN"
		}
		lg.LoginAborted(reason, g)
		return nil
	}
	stats := fmt.Sprintf("in=%d out=%d deleted=%d expunged=%d trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0",
		s.st.conn.in.Load(), s.st.conn.out.Load(), s.stats.deleted, s.stats.expunged)
	lg.Disconnected(maillog.MailSession("imap", s.user.Name, os.Getpid(), s.st.session), "Logged out", stats)
	return nil
}

func (s *Session) loginFields(user string) maillog.Login {
	return maillog.Login{Service: "imap-login", User: user, RIP: s.st.remote.String(), LIP: s.st.local.String(),
		TLS: s.isTLS(), Secured: s.st.secured && !s.isTLS(), Session: s.st.session}
}

func (s *Session) isTLS() bool {
	if s.st.tls {
		return true
	}
	_, ok := s.conn.NetConn().(*tls.Conn)
	return ok
}

// Login implements imapserver.Session with Dovecot's delays: the
// per-address penalty before the check, auth_failure_delay after a
// failure.
func (s *Session) Login(username, password string) error {
	ctx := s.ctx()
	clk := s.srv.clock
	s.attempts++
	s.lastUser = username
	// login_trusted_networks are spared anvil's penalty.
	trusted := s.srv.trusted(s.st.remote)
	if !trusted {
		s.srv.clock.Sleep(ctx, s.srv.pen.Delay(s.st.remote, clk.Now()))
	}
	var u User
	err := errAuthFailedPlain
	if s.srv.cfg.Auth != nil {
		u, err = s.srv.cfg.Auth.Authenticate(ctx, username, password)
	}
	if err != nil {
		if !trusted {
			s.srv.pen.Fail(s.st.remote, password, clk.Now())
		}
		clk.Sleep(ctx, s.srv.cfg.AuthFailureDelay)
		return errAuthFailed
	}
	if !s.srv.validUID(u.UID) {
		// Dovecot: the login succeeds, the mail process refuses.
		s.srv.pen.Succeed(s.st.remote)
		s.st.conn.initFailed()
		s.initFailed = true
		if lg := s.srv.cfg.Log; lg != nil {
			g := s.loginFields(u.Name)
			g.Method, g.MPID = "PLAIN", os.Getpid()
			lg.LoginOK(g)
			lg.Logf(maillog.MailErr, "imap(%s)<%d><%s>: Error: Mail access for users with UID %d not permitted (see first_valid_uid in config file, uid from userdb lookup).",
				u.Name, os.Getpid(), s.st.session, u.UID)
		}
		return nil
	}
	f, err := s.srv.folders(u)
	if err != nil {
		return errInternal
	}
	if s.srv.cfg.Handoff != nil {
		s.srv.pen.Succeed(s.st.remote)
		return s.handoff(u, "PLAIN")
	}
	s.srv.pen.Succeed(s.st.remote)
	s.user, s.folders, s.loggedIn = u, f, true
	s.st.conn.loggedIn()
	if lg := s.srv.cfg.Log; lg != nil {
		g := s.loginFields(u.Name)
		g.Method, g.MPID = "PLAIN", os.Getpid()
		lg.LoginOK(g)
	}
	s.st.conn.in.Store(0)
	s.st.conn.out.Store(0)
	return nil
}

var errAuthFailedPlain = errors.New("no passdb configured")

func (s *Server) validUID(uid int) bool {
	if uid < 0 {
		return true // passwd-file without a uid: the process's own
	}
	if s.cfg.FirstValidUID > 0 && uint32(uid) < s.cfg.FirstValidUID {
		return false
	}
	return s.cfg.LastValidUID == 0 || uint32(uid) <= s.cfg.LastValidUID
}

// folders resolves mail_location for u.
func (s *Server) folders(u User) (*mbox.Folders, error) {
	loc := s.cfg.MailLocation
	if loc == "" {
		loc = "mbox:~/mail:INBOX=/var/mail/%u"
	}
	ml, err := doveconf.ParseMailLocation(loc)
	if err != nil {
		return nil, err
	}
	ml, err = ml.Expand(doveconf.Vars{User: u.Name, Home: u.Home, Service: "imap"})
	if err != nil {
		return nil, err
	}
	if ml.Driver != "" && ml.Driver != "mbox" {
		return nil, fmt.Errorf("mail_location driver %s is not supported", ml.Driver)
	}
	inbox := ml.Inbox
	if inbox == "" {
		inbox = "/var/mail/" + u.Name
	}
	return &mbox.Folders{Root: ml.Root, Inbox: inbox, Opts: mbox.Options{Lock: s.cfg.Lock}}, nil
}

// mailboxError maps pkg/mbox errors to Dovecot's replies.
func mailboxError(name string, err error) error {
	var ie *imap.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return err
	case errors.Is(err, mbox.ErrNoMailbox):
		// Only pkg/mbox's own verdict: a bare not-found error comes from
		// a file that vanished under a mailbox that exists (another
		// process's rewrite), which is no NONEXISTENT.
		return errNoMailbox(name)
	case errors.Is(err, mbox.ErrNotMbox):
		return errNotMbox
	case errors.Is(err, mbox.ErrLockTimeout):
		return errLockTime
	case errors.Is(err, mbox.ErrExists):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}
	case errors.Is(err, mbox.ErrHasChildren):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Mailbox has children, delete them first"}
	}
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug,
		Text: "Internal error occurred. Refer to server log for more information. [" + time.Now().Format("2006-01-02 15:04:05") + "]"}
}

// canonName makes INBOX case-insensitive, as RFC 3501 §5.1 requires.
func canonName(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		return "INBOX/" + name[6:]
	}
	return name
}

// Namespace implements imapserver.SessionNamespace: Dovecot's default
// inbox namespace, prefix "" and separator "/".
func (s *Session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: '/'}}}, nil
}

// Create implements imapserver.Session.
func (s *Session) Create(name string, _ *imap.CreateOptions) error {
	name = canonName(name)
	if name == "INBOX" {
		return mailboxError(name, mbox.ErrExists)
	}
	return mailboxError(name, s.folders.Create(name))
}

// Delete implements imapserver.Session.
func (s *Session) Delete(name string) error {
	name = canonName(name)
	if name == "INBOX" {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "INBOX can't be deleted."}
	}
	return mailboxError(name, s.folders.Delete(name))
}

// Rename implements imapserver.Session.
func (s *Session) Rename(from, to string, _ *imap.RenameOptions) error {
	from, to = canonName(from), canonName(to)
	if from == "INBOX" {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Renaming INBOX isn't supported."}
	}
	return mailboxError(from, s.folders.Rename(from, to))
}

// Subscribe implements imapserver.Session. Like Dovecot it refuses a
// mailbox that does not exist.
func (s *Session) Subscribe(name string) error {
	name = canonName(name)
	p, err := s.folders.Path(name)
	if err != nil {
		return mailboxError(name, err)
	}
	if _, err := os.Stat(p); err != nil && name != "INBOX" {
		// Dovecot gives no response code here.
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Mailbox doesn't exist: " + name}
	}
	return mailboxError(name, s.folders.Subscribe(name, true))
}

// Unsubscribe implements imapserver.Session.
func (s *Session) Unsubscribe(name string) error {
	return mailboxError(name, s.folders.Subscribe(canonName(name), false))
}

// Poll implements imapserver.Session.
func (s *Session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.sel == nil {
		return nil
	}
	return s.sel.poll(w, allowExpunge)
}

// Idle implements imapserver.Session.
func (s *Session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if s.sel == nil {
		<-stop
		return nil
	}
	return s.sel.idle(w, stop, s.srv.cfg.IdleNotify, func() error {
		_, err := s.st.conn.Write([]byte("* OK Still here\r\n"))
		return err
	})
}
