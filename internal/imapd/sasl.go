// SPDX-License-Identifier: MIT

package imapd

import (
	"errors"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"
)

var _ imapserver.SessionSASL = (*Session)(nil)

// AuthenticateMechanisms implements imapserver.SessionSASL:
// auth_mechanisms, PLAIN and LOGIN being the ones served.
func (s *Session) AuthenticateMechanisms() []string {
	var out []string
	for _, m := range s.srv.cfg.Mechanisms {
		if m = strings.ToUpper(m); m == "PLAIN" || m == "LOGIN" {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		out = []string{"PLAIN"}
	}
	return out
}

// Authenticate implements imapserver.SessionSASL.
func (s *Session) Authenticate(mech string) (sasl.Server, error) {
	allowed := false
	for _, m := range s.AuthenticateMechanisms() {
		allowed = allowed || m == mech
	}
	if !allowed {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported authentication mechanism."}
	}
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				// No master users: Dovecot fails such a login.
				return s.Login(username, "\x00invalid\x00")
			}
			return s.Login(username, password)
		}), nil
	case "LOGIN":
		return &loginServer{login: s.Login}, nil
	}
	return nil, errors.New("unreachable")
}

// loginServer is the LOGIN mechanism (draft-murchison-sasl-login), which
// go-sasl does not serve: Dovecot's challenges "Username:" and
// "Password:".
type loginServer struct {
	login    func(user, pass string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step++
		if response != nil {
			// An initial response (SASL-IR) is the user name.
			l.username = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.username = string(response)
		l.step++
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.login(l.username, string(response))
	}
}
