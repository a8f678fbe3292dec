// SPDX-License-Identifier: MIT

// Package dovecotauth is what dovecotd's IMAP and POP3 servers share of
// Dovecot's auth: the passdb/userdb adapters over pkg/shadowauth, chosen
// from dovecot.conf's passdb blocks, and anvil's per-address penalty for
// failed logins, which Dovecot keeps once per server for every protocol.
package dovecotauth

import (
	"context"
	"crypto/sha256"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"mailsuite/pkg/doveconf"
	"mailsuite/pkg/shadowauth"
)

// User is an authenticated user as the userdb gives it: the name and home
// that %u and ~ expand to, and the uid and gid the mail process runs
// with (-1 when the userdb gives none).
type User struct {
	Name string
	UID  int
	GID  int
	Home string
}

// Authenticator checks a user's password (a passdb with its userdb). Any
// error is a failed login; the client sees only Dovecot's text.
type Authenticator interface {
	Authenticate(ctx context.Context, user, password string) (User, error)
}

// SystemAuth is the pam/shadow passdb with the passwd userdb: the
// system's users (or the files shadowauth.Paths names).
type SystemAuth struct{ System *shadowauth.System }

// Authenticate implements Authenticator.
func (a SystemAuth) Authenticate(_ context.Context, user, password string) (User, error) {
	u, err := a.System.Authenticate(user, password)
	if err != nil {
		return User{}, err
	}
	return User{Name: u.Name, UID: u.UID, GID: u.GID, Home: u.Home}, nil
}

// PasswdFileAuth is a Dovecot passwd-file passdb, which also serves as
// the userdb (the same file's uid, gid and home).
type PasswdFileAuth struct{ File *shadowauth.PasswdFile }

// Authenticate implements Authenticator. An empty or non-numeric uid or
// gid field is -1: none given.
func (a PasswdFileAuth) Authenticate(_ context.Context, user, password string) (User, error) {
	e, err := a.File.Authenticate(user, password)
	if err != nil {
		return User{}, err
	}
	return User{Name: e.User, Home: e.Home, UID: id(e.UID), GID: id(e.GID)}, nil
}

func id(s string) int {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// FromPassdbs picks the Authenticator for the first passdb Dovecot would
// ask: a passwd-file (its path and scheme= from args), or the system's
// passwd and shadow for pam, shadow and passwd. A configuration without
// a passdb gets the system's too, as Debian's auth-system.conf.ext
// configures.
func FromPassdbs(dbs []doveconf.AuthDB) Authenticator {
	for _, db := range dbs {
		switch db.Driver {
		case "pam", "shadow", "passwd":
			return SystemAuth{System: shadowauth.NewSystem()}
		case "passwd-file":
			pf := &shadowauth.PasswdFile{}
			for _, f := range strings.Fields(db.Args) {
				if v, ok := strings.CutPrefix(f, "scheme="); ok {
					pf.DefaultScheme = v
				} else if !strings.Contains(f, "=") {
					pf.Path = f
				}
			}
			return PasswdFileAuth{File: pf}
		}
	}
	return SystemAuth{System: shadowauth.NewSystem()}
}

// Dovecot's anvil auth penalty (src/login-common/client-common-auth.c,
// auth-penalty.h): AUTH_PENALTY_INIT_SECS 2, doubled per further failure,
// capped at AUTH_PENALTY_MAX_SECS 15, forgotten after 30 s without
// failures. With auth_failure_delay = 2 s Debian 12 measured 2, 6, 10,
// 17 s for the 1st..4th failure and 15 s for a right password after four.
const (
	penaltyInit    = 2 * time.Second
	penaltyMax     = 15 * time.Second
	penaltyTimeout = 30 * time.Second
)

// Penalties is anvil's failure count per client address (per /48 for
// IPv6, as Dovecot's auth_penalty_ipv6_mask). Callers leave
// login_trusted_networks out.
type Penalties struct {
	mu sync.Mutex
	m  map[netip.Addr]*penalty
}

type penalty struct {
	count    int
	last     time.Time
	lastPass [32]byte
}

// NewPenalties returns an empty table.
func NewPenalties() *Penalties { return &Penalties{m: map[netip.Addr]*penalty{}} }

func key(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(48)
		return p.Addr()
	}
	return ip
}

// Delay is how long a login from ip waits before its password is even
// checked.
func (p *Penalties) Delay(ip netip.Addr, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.m[key(ip)]
	if e == nil || e.count == 0 {
		return 0
	}
	if now.Sub(e.last) >= penaltyTimeout {
		delete(p.m, key(ip))
		return 0
	}
	d := penaltyInit
	for i := 0; i < e.count && d < penaltyMax; i++ {
		d *= 2
	}
	return min(d, penaltyMax)
}

// Fail records a failed login; the same wrong password again does not
// raise the penalty (Dovecot compares a checksum of it).
func (p *Penalties) Fail(ip netip.Addr, password string, now time.Time) {
	sum := sha256.Sum256([]byte(password))
	p.mu.Lock()
	defer p.mu.Unlock()
	k := key(ip)
	e := p.m[k]
	if e == nil || now.Sub(e.last) >= penaltyTimeout {
		e = &penalty{}
		p.m[k] = e
	}
	if e.count == 0 || e.lastPass != sum {
		e.count++
	}
	e.last, e.lastPass = now, sum
}

// Succeed forgets ip's failures.
func (p *Penalties) Succeed(ip netip.Addr) {
	p.mu.Lock()
	delete(p.m, key(ip))
	p.mu.Unlock()
}

// GIDRange is first_valid_gid and last_valid_gid (0: no bound).
type GIDRange struct{ First, Last uint32 }

// MailAccessError is the mail process refusing to run as a user, after a
// successful login: Dovecot logs Reason and the client gets the
// "initialization failed" replies.
type MailAccessError struct{ Reason string }

func (e *MailAccessError) Error() string { return e.Reason }

// CheckDropPrivileges is what Dovecot's mail process checks before it
// switches to u (mail-storage-service.c): a uid and gid must be given,
// root is never served, and the gid must lie in first/last_valid_gid.
// (first/last_valid_uid are checked at login, in every mode.)
func CheckDropPrivileges(u User, gids GIDRange) error {
	switch {
	case u.UID < 0 || u.GID < 0:
		return &MailAccessError{"Couldn't drop privileges: User is missing UID (see mail_uid setting)"}
	case u.UID == 0:
		return &MailAccessError{"Mail access not allowed for root"}
	case gids.First != 0 && uint32(u.GID) < gids.First, gids.Last != 0 && uint32(u.GID) > gids.Last:
		return &MailAccessError{"Mail access for users with GID " + strconv.Itoa(u.GID) +
			" not permitted (see first_valid_gid in config file, gid from userdb lookup)."}
	}
	return nil
}
