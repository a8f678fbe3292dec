// SPDX-License-Identifier: MIT

package shadowauth

import (
	"errors"
	"fmt"
	"time"
)

// ErrExpired is returned for an account past its shadow expiry date, or
// whose password has expired or must be changed before use: a mail
// client cannot change it, so PAM's answer there is a refusal too.
var ErrExpired = errors.New("account or password expired")

// System authenticates users against a passwd and a shadow file, which is
// what Dovecot's "pam" and "shadow" passdbs and Sendmail's AUTH do on a
// host whose users come from useradd/passwd.
type System struct {
	Paths Paths
	// Now is the clock used for expiry; nil means time.Now.
	Now func() time.Time
}

// NewSystem returns a System reading DefaultPaths.
func NewSystem() *System { return &System{Paths: DefaultPaths()} }

// Authenticate checks name's password. On success it returns the user's
// passwd entry. Errors: ErrNotFound (no passwd or shadow entry),
// ErrMismatch, ErrLocked, ErrExpired, or an I/O or ErrScheme error.
// Callers must answer the client the same way for all of them.
func (s *System) Authenticate(name, password string) (User, error) {
	u, err := LookupUser(s.Paths.Passwd, name)
	if err != nil {
		return User{}, err
	}
	hash := u.Password
	var sh *Shadow
	if hash == "x" || hash == "*NP*" {
		e, err := LookupShadow(s.Paths.Shadow, name)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return User{}, fmt.Errorf("user %s: %w in shadow file", name, ErrNotFound)
			}
			return User{}, err
		}
		hash, sh = e.Hash, &e
	}
	if err := VerifyCrypt(hash, password); err != nil {
		return User{}, err
	}
	if sh != nil {
		if err := s.checkExpiry(sh); err != nil {
			return User{}, err
		}
	}
	return u, nil
}

// checkExpiry applies shadow(5)'s aging rules as pam_unix's account
// management does.
func (s *System) checkExpiry(sh *Shadow) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	today := int(now().Unix() / 86400)
	if sh.Expire > 0 && today >= sh.Expire {
		return ErrExpired
	}
	if sh.LastChange == 0 {
		return ErrExpired // "You are required to change your password immediately"
	}
	if sh.LastChange > 0 && sh.Max >= 0 && sh.Max < 99999 && today > sh.LastChange+sh.Max {
		return ErrExpired
	}
	return nil
}
