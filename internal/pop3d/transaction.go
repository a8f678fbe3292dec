// SPDX-License-Identifier: MIT

package pop3d

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mailsuite/internal/maillog"
	"mailsuite/pkg/doveconf"
	"mailsuite/pkg/mbox"
)

// cmdSTLS runs STLS (RFC 2595). It returns false when the connection is
// gone.
func (s *session) cmdSTLS(ctx context.Context) bool {
	cfg := s.srv.tlsConfig()
	switch {
	case s.tls:
		writeLine(s.bw, replyTLSActive)
		return true
	case cfg == nil:
		writeLine(s.bw, replyTLSDisabled)
		return true
	}
	writeLine(s.bw, replyTLSBegin)
	if s.bw.Flush() != nil {
		return false
	}
	if s.br.Buffered() > 0 {
		// Commands pipelined after STLS would be a plaintext
		// injection into the TLS session (CVE-2011-0411).
		s.logLoginEnd("Disconnected " + s.authDetail())
		return false
	}
	tc := tls.Server(s.conn, cfg)
	tc.SetDeadline(time.Now().Add(s.srv.loginTimeout()))
	if err := tc.HandshakeContext(ctx); err != nil {
		s.logLoginEnd("Disconnected " + s.authDetail())
		return false
	}
	tc.SetDeadline(time.Time{})
	s.tls = true
	s.user, s.userSet = "", false
	s.setConn(tc)
	return true
}

func (s *session) prefix() string {
	return maillog.MailSession("pop3", s.account, pid, s.id)
}

func (s *session) logLoginOK(user, method string) {
	if s.srv.cfg.Log != nil {
		s.srv.cfg.Log.LoginOK(s.loginInfo(user, method))
	}
}

// open finds the user's INBOX through mail_location and opens the
// maildrop. It returns the error reply, or "".
func (s *session) open(ctx context.Context, u User) string {
	c := s.srv.cfg
	locStr := c.MailLocation
	if locStr == "" {
		// Dovecot autodetects; Debian's 10-mail.conf sets this one.
		locStr = "mbox:~/mail:INBOX=/var/mail/%u"
	}
	loc, err := doveconf.ParseMailLocation(locStr)
	if err == nil {
		loc, err = loc.Expand(doveconf.Vars{User: u.Name, Home: u.Home, Service: "pop3",
			LocalIP: s.lip.String(), RemoteIP: s.rip.String(), Session: s.id})
	}
	if err == nil && loc.Driver != "mbox" && loc.Driver != "" {
		err = fmt.Errorf("mail_location %q: only mbox is served", locStr)
	}
	if err != nil {
		s.srv.logf("%s: Error: %v", s.prefix(), err)
		return replyInternal
	}
	if c.LockSession {
		dir := loc.Index
		if dir == "" || dir == "MEMORY" {
			dir = loc.Root
		}
		l, err := acquireSessionLock(ctx, dir, c.Hostname)
		if err != nil {
			s.srv.logf("%s: Error: Couldn't lock POP3 session: %v", s.prefix(), err)
			if err == errSessionLocked {
				return replySessionLocked
			}
			return replySessionLockFail
		}
		s.lock = l
	}
	inbox := loc.Inbox
	if inbox == "" {
		inbox = strings.TrimSuffix(loc.Root, "/") + "/inbox"
	}
	f := &mbox.Folders{Root: loc.Root, Inbox: inbox, Opts: mbox.Options{Hostname: c.Hostname, Lock: c.Lock}}
	s.drop, err = openMaildrop(ctx, f, dropOptions{
		uidl:          s.srv.uidl,
		noFlagUpdates: c.NoFlagUpdates,
		deleteFlag:    c.deleteKeyword(),
		hideFlag:      c.DeletedFlag,
	})
	if err != nil {
		s.srv.logf("%s: Error: Couldn't open INBOX: %v", s.prefix(), err)
		if s.lock != nil {
			s.lock.release()
			s.lock = nil
		}
		return storageReply(err)
	}
	return ""
}

// transaction runs the TRANSACTION state until QUIT or a disconnect.
func (s *session) transaction(ctx context.Context) {
	defer func() {
		if s.lock != nil {
			s.lock.release()
		}
	}()
	for {
		line, reason, ok := s.readLine(s.srv.idleTimeout())
		if !ok {
			switch reason {
			case "Inactivity":
				writeLine(s.bw, replyInactivity)
				reason = fmt.Sprintf("Inactivity - no input for %d secs", int(s.srv.idleTimeout()/time.Second))
			case "Input line too long":
				writeLine(s.bw, replyLineTooLong)
			case "Server shutting down.":
				writeLine(s.bw, replyShutdown)
			}
			s.bw.Flush()
			s.drop.abort(context.WithoutCancel(ctx))
			s.logDisconnect(reason)
			return
		}
		name, args := splitCommand(line)
		args = strings.TrimLeft(args, " ")
		if name == "QUIT" {
			s.quit(ctx)
			return
		}
		if s.command(ctx, name, args) {
			s.bad = 0
			continue
		}
		s.bad++
		if s.bad > maxBad {
			writeLine(s.bw, replyTooMany)
			s.bw.Flush()
			s.drop.abort(context.WithoutCancel(ctx))
			s.logDisconnect("Too many bad commands.")
			return
		}
	}
}

func (s *session) quit(ctx context.Context) {
	d := s.drop
	if err := d.update(context.WithoutCancel(ctx)); err != nil {
		s.srv.logf("%s: Error: %v", s.prefix(), err)
		writeLine(s.bw, storageReply(err))
		s.bw.Flush()
		s.logDisconnect("Storage error during logout.")
		return
	}
	s.stats.delSuccess = true
	if d.delCount == 0 {
		writeLine(s.bw, replyLogout)
	} else {
		writeLine(s.bw, replyLogoutDeleted)
	}
	// Dovecot logs before flushing the last reply.
	s.logDisconnect("Logged out")
	s.bw.Flush()
}

// logDisconnect writes "pop3(b)<pid><session>: Disconnected: <reason>
// <pop3_logout_format>".
func (s *session) logDisconnect(reason string) {
	if s.srv.cfg.Log == nil {
		return
	}
	s.srv.cfg.Log.Disconnected(s.prefix(), reason, s.logoutStats())
}

// logoutStats expands pop3_logout_format.
func (s *session) logoutStats() string {
	format := s.srv.cfg.LogoutFormat
	if format == "" {
		format = defaultLogoutFormat
	}
	var msgs, size, delCount, delSize int64
	if d := s.drop; d != nil {
		msgs, size = int64(len(d.msgs)), d.total
		if s.stats.delSuccess {
			delCount, delSize = int64(d.delCount), d.delSize
		}
	}
	var out int64
	if s.outBytes != nil {
		out = s.outBytes.n + int64(s.bw.Buffered())
	}
	vals := map[string]string{
		"p": strconv.FormatInt(s.stats.topBytes, 10), "top_bytes": "",
		"t": strconv.Itoa(s.stats.top), "top_count": "",
		"b": strconv.FormatInt(s.stats.retrBytes, 10), "retr_bytes": "",
		"r": strconv.Itoa(s.stats.retr), "retr_count": "",
		"d": strconv.FormatInt(delCount, 10), "deleted_count": "",
		"m": strconv.FormatInt(msgs, 10), "message_count": "",
		"s": strconv.FormatInt(size, 10), "message_bytes": "",
		"i": strconv.FormatInt(s.inBytes, 10), "input": "",
		"o": strconv.FormatInt(out, 10), "output": "",
		"u": "", "uidl_change": "",
		"session": s.id, "deleted_bytes": strconv.FormatInt(delSize, 10),
	}
	long := map[string]string{"top_bytes": "p", "top_count": "t", "retr_bytes": "b", "retr_count": "r",
		"deleted_count": "d", "message_count": "m", "message_bytes": "s", "input": "i", "output": "o", "uidl_change": "u"}
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 == len(format) {
			b.WriteByte(format[i])
			continue
		}
		i++
		key := string(format[i])
		if format[i] == '{' {
			end := strings.IndexByte(format[i:], '}')
			if end < 0 {
				b.WriteString(format[i-1:])
				break
			}
			key = format[i+1 : i+end]
			i += end
			if k, ok := long[key]; ok {
				key = k
			}
		}
		if key == "%" {
			b.WriteByte('%')
			continue
		}
		b.WriteString(vals[key])
	}
	return b.String()
}
