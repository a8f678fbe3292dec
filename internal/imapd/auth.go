// SPDX-License-Identifier: MIT

package imapd

import (
	"context"
	"errors"
	"time"

	"mailsuite/internal/dovecotauth"
)

// User is an authenticated user: the name and home that %u and ~ expand
// to, the uid and gid a mail process runs with.
type User = dovecotauth.User

// Authenticator checks a user's password. Any error means "Authentication
// failed." to the client; the detail goes to the log.
type Authenticator = dovecotauth.Authenticator

// SystemAuth is the pam/shadow passdb with the passwd userdb.
type SystemAuth = dovecotauth.SystemAuth

// PasswdFileAuth is a passwd-file passdb and userdb.
type PasswdFileAuth = dovecotauth.PasswdFileAuth

// errPenalty is never shown; it marks a login refused while penalised.
var errPenalty = errors.New("auth penalty")

// Clock is the time source of the auth delays; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
