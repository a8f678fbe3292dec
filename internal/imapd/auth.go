// SPDX-License-Identifier: MIT

package imapd

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/netip"
	"sync"
	"time"

	"mailsuite/pkg/shadowauth"
)

// User is an authenticated user: the name and home that %u and ~ expand to.
type User struct {
	Name string
	UID  int
	GID  int
	Home string
}

// Authenticator checks a user's password. Any error means "Authentication
// failed." to the client; the detail goes to the log.
type Authenticator interface {
	Authenticate(ctx context.Context, user, password string) (User, error)
}

// SystemAuth is the pam/shadow passdb with the passwd userdb: the system's
// users (or the files shadowauth.Paths names).
type SystemAuth struct{ System *shadowauth.System }

// Authenticate implements Authenticator.
func (a SystemAuth) Authenticate(_ context.Context, user, password string) (User, error) {
	u, err := a.System.Authenticate(user, password)
	if err != nil {
		return User{}, err
	}
	return User{Name: u.Name, UID: u.UID, GID: u.GID, Home: u.Home}, nil
}

// PasswdFileAuth is a passwd-file passdb (and userdb: the same file's uid,
// gid and home).
type PasswdFileAuth struct{ File *shadowauth.PasswdFile }

// Authenticate implements Authenticator.
func (a PasswdFileAuth) Authenticate(_ context.Context, user, password string) (User, error) {
	e, err := a.File.Authenticate(user, password)
	if err != nil {
		return User{}, err
	}
	u := User{Name: e.User, Home: e.Home, UID: -1, GID: -1}
	if v, ok := atoi(e.UID); ok {
		u.UID = v
	}
	if v, ok := atoi(e.GID); ok {
		u.GID = v
	}
	return u, nil
}

func atoi(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// errPenalty is never shown; it marks a login refused while penalised.
var errPenalty = errors.New("auth penalty")

// Dovecot's anvil auth penalty (src/login-common/client-common-auth.c,
// auth-penalty.h): AUTH_PENALTY_INIT_SECS 2, doubled per further failure,
// capped at AUTH_PENALTY_MAX_SECS 15. Measured on Debian 12 with
// auth_failure_delay = 2 s: 2, 6, 10, 17 s for the 1st..4th failure, a
// correct login after four failures 15 s, back to 2 s after about 30 s
// without failures.
const (
	penaltyInit    = 2 * time.Second
	penaltyMax     = 15 * time.Second
	penaltyTimeout = 30 * time.Second
)

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

type penaltyEntry struct {
	count    int
	last     time.Time
	lastPass [32]byte
}

// penalties is Dovecot's per-client-IP failure counter.
type penalties struct {
	mu sync.Mutex
	m  map[netip.Addr]*penaltyEntry
}

// delay returns how long a login from ip waits before it is checked.
func (p *penalties) delay(ip netip.Addr, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.m[ip]
	if e == nil || e.count == 0 {
		return 0
	}
	if now.Sub(e.last) >= penaltyTimeout {
		delete(p.m, ip)
		return 0
	}
	return penaltySecs(e.count)
}

func penaltySecs(count int) time.Duration {
	if count <= 0 {
		return 0
	}
	d := penaltyInit
	for i := 0; i < count && d < penaltyMax; i++ {
		d *= 2
	}
	return min(d, penaltyMax)
}

// fail records a failed login; repeating the same wrong password does not
// raise the penalty (Dovecot compares a checksum of it).
func (p *penalties) fail(ip netip.Addr, password string, now time.Time) {
	sum := sha256.Sum256([]byte(password))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[netip.Addr]*penaltyEntry)
	}
	e := p.m[ip]
	if e == nil {
		e = &penaltyEntry{}
		p.m[ip] = e
	} else if now.Sub(e.last) >= penaltyTimeout {
		*e = penaltyEntry{}
	}
	if e.count == 0 || e.lastPass != sum {
		e.count++
	}
	e.last, e.lastPass = now, sum
}

// succeed forgets ip's failures.
func (p *penalties) succeed(ip netip.Addr) {
	p.mu.Lock()
	delete(p.m, ip)
	p.mu.Unlock()
}
