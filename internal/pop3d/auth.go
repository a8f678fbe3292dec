// SPDX-License-Identifier: MIT

package pop3d

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"time"

	"mailsuite/pkg/doveconf"
)

// authorization runs the AUTHORIZATION state (Dovecot's pop3-login). It
// returns true once a user has logged in and the maildrop is open.
func (s *session) authorization(ctx context.Context) bool {
	for {
		line, reason, ok := s.readLine(s.srv.loginTimeout())
		if !ok {
			switch reason {
			case "Inactivity":
				writeLine(s.bw, replyInactivity)
				s.bw.Flush()
				s.logLoginEnd("Inactivity " + s.authDetail())
			case "Input line too long":
				writeLine(s.bw, replyLineTooLong)
				s.bw.Flush()
				s.logLoginEnd("Input buffer full " + s.authDetail())
			case "Server shutting down.":
				writeLine(s.bw, replyShutdown)
				s.bw.Flush()
				s.logLoginEnd("Server shutting down. " + s.authDetail())
			default:
				s.logLoginEnd("Disconnected " + s.authDetail())
			}
			return false
		}
		name, args := splitCommand(line)
		var done, quit bool
		switch name {
		case "CAPA":
			s.capa()
		case "USER":
			s.cmdUser(args)
		case "PASS":
			done = s.cmdPass(ctx, args)
		case "AUTH":
			var ok bool
			done, ok = s.cmdAuth(ctx, args)
			if !ok {
				return false
			}
		case "STLS":
			if !s.cmdSTLS(ctx) {
				return false
			}
		case "QUIT":
			writeLine(s.bw, replyLogoutLogin)
			quit = true
		default:
			writeLine(s.bw, replyUnknownLogin)
			s.bad++
			if s.bad >= maxBadLogin {
				writeLine(s.bw, replyTooManyLogin)
				s.bw.Flush()
				s.logLoginEnd("Too many invalid commands. " + s.authDetail())
				return false
			}
			continue
		}
		s.bad = 0
		if quit {
			s.logLoginEnd("Aborted login by logging out " + s.authDetail())
			s.bw.Flush()
			return false
		}
		if done {
			return s.drop != nil
		}
	}
}

func (s *session) capa() {
	writeLine(s.bw, replyOK)
	for _, c := range capaCommon {
		writeLine(s.bw, c)
	}
	if s.srv.tlsConfig() != nil && !s.tls {
		writeLine(s.bw, "STLS")
	}
	if s.plaintextOK() {
		writeLine(s.bw, "USER")
		writeLine(s.bw, "SASL "+strings.Join(s.srv.mechanisms(), " "))
	} else {
		writeLine(s.bw, "SASL")
	}
	writeLine(s.bw, ".")
}

func (s *session) cmdUser(args string) {
	if !s.plaintextOK() {
		s.plainRefused = true
		writeLine(s.bw, replyPlaintextUser)
		return
	}
	// Dovecot keeps even an empty name; PASS then fails to log in.
	s.user, s.userSet = args, true
	writeLine(s.bw, replyOK)
}

func (s *session) cmdPass(ctx context.Context, args string) bool {
	if !s.plaintextOK() {
		s.plainRefused = true
		writeLine(s.bw, replyPlaintextUser)
		return false
	}
	if !s.userSet {
		writeLine(s.bw, replyNoUsername)
		return false
	}
	user := s.user
	s.user, s.userSet = "", false
	return s.login(ctx, user, args, "PLAIN")
}

// cmdAuth runs AUTH (RFC 5034). ok is false when the connection is gone.
func (s *session) cmdAuth(ctx context.Context, args string) (done, ok bool) {
	mechs := s.srv.mechanisms()
	if args == "" {
		// The old SASL discovery Outlook uses: the usable mechanisms.
		writeLine(s.bw, replyOK)
		if s.plaintextOK() {
			for _, m := range mechs {
				writeLine(s.bw, m)
			}
		}
		writeLine(s.bw, ".")
		return false, true
	}
	mech, ir, hasIR := strings.Cut(args, " ")
	mech = upper(mech)
	known := false
	for _, m := range mechs {
		known = known || m == mech
	}
	if !known {
		writeLine(s.bw, replyUnknownMech)
		return false, true
	}
	if !s.plaintextOK() {
		s.plainRefused = true
		if s.srv.cfg.SSL == "required" && !s.secured() {
			writeLine(s.bw, replySSLRequired)
		} else {
			writeLine(s.bw, replyPlaintextSASL)
		}
		return false, true
	}
	// next returns the client's next response, decoded.
	next := func(prompt string) ([]byte, bool, bool) {
		writeLine(s.bw, prompt)
		line, _, ok := s.readLine(s.srv.loginTimeout())
		if !ok {
			return nil, false, false
		}
		if line == "*" {
			writeLine(s.bw, replyAuthAborted)
			return nil, false, true
		}
		b, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			writeLine(s.bw, replyBadBase64)
			return nil, false, true
		}
		return b, true, true
	}
	var user, pass string
	switch mech {
	case "PLAIN":
		var resp []byte
		if hasIR {
			if ir != "=" {
				b, err := base64.StdEncoding.DecodeString(ir)
				if err != nil {
					writeLine(s.bw, replyBadBase64)
					return false, true
				}
				resp = b
			}
		} else {
			b, got, alive := next("+ ")
			if !alive {
				s.logLoginEnd("Disconnected " + s.authDetail())
				return false, false
			}
			if !got {
				return false, true
			}
			resp = b
		}
		parts := bytes.Split(resp, []byte{0})
		if len(parts) != 3 || (len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1])) {
			s.lastUser = string(parts[min(1, len(parts)-1)])
			return s.fail(ctx, string(resp)), true
		}
		user, pass = string(parts[1]), string(parts[2])
	case "LOGIN":
		var u []byte
		if hasIR && ir != "=" {
			b, err := base64.StdEncoding.DecodeString(ir)
			if err != nil {
				writeLine(s.bw, replyBadBase64)
				return false, true
			}
			u = b
		} else {
			b, got, alive := next(promptUsername)
			if !alive {
				s.logLoginEnd("Disconnected " + s.authDetail())
				return false, false
			}
			if !got {
				return false, true
			}
			u = b
		}
		p, got, alive := next(promptPassword)
		if !alive {
			s.logLoginEnd("Disconnected " + s.authDetail())
			return false, false
		}
		if !got {
			return false, true
		}
		user, pass = string(u), string(p)
	}
	return s.login(ctx, user, pass, mech), true
}

// fail answers a failed login after Dovecot's delay.
func (s *session) fail(ctx context.Context, pass string) bool {
	s.attempts++
	s.failed = true
	if !s.srv.trusted(s.rip) {
		s.srv.penalty.fail(s.rip, pass, time.Now())
	}
	sleep(ctx, s.srv.failureDelay())
	writeLine(s.bw, replyAuthFailed)
	return false
}

// login checks a password and, when it matches, opens the maildrop.
func (s *session) login(ctx context.Context, user, pass, method string) bool {
	s.bw.Flush()
	s.lastUser = user
	// Dovecot's anvil penalty is waited out before the password is
	// checked, so a right password after failures is slow too.
	if !s.srv.trusted(s.rip) {
		sleep(ctx, s.srv.penalty.delay(s.rip, time.Now()))
	}
	name := user
	format := s.srv.cfg.UsernameFormat
	if format == "" {
		format = "%Lu"
	}
	if v, err := doveconf.ExpandVars(format, doveconf.Vars{User: user}); err == nil {
		name = v
	}
	u, err := s.srv.cfg.Auth.Authenticate(ctx, name, pass)
	if err != nil {
		return s.fail(ctx, pass)
	}
	s.srv.penalty.succeed(s.rip)
	s.account = u.Name
	c := s.srv.cfg
	if (c.FirstValidUID != 0 && uint32(u.UID) < c.FirstValidUID) || (c.LastValidUID != 0 && uint32(u.UID) > c.LastValidUID) {
		s.logLoginOK(u.Name, method)
		s.srv.logf("%s: Error: Mail access for users with UID %d not permitted (see first_valid_uid in config file, uid from userdb lookup).", s.prefix(), u.UID)
		writeLine(s.bw, replyInternal)
		s.bw.Flush()
		s.logDisconnect("Internal error occurred. Refer to server log for more information.")
		return true
	}
	if s.srv.cfg.Handoff != nil {
		s.handoff(u, method)
		return true
	}
	s.logLoginOK(u.Name, method)
	if errReply := s.open(ctx, u); errReply != "" {
		writeLine(s.bw, errReply)
		s.bw.Flush()
		s.logDisconnect("Couldn't open INBOX")
		return true
	}
	writeLine(s.bw, replyLoggedIn)
	return true
}
