// SPDX-License-Identifier: MIT

package pop3d

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"mailsuite/internal/dovecotauth"
	"mailsuite/internal/maillog"
	"mailsuite/pkg/doveconf"
	"mailsuite/pkg/mbox"
)

// User is an authenticated user as the userdb gives it.
type User = dovecotauth.User

// Authenticator checks a user's password (Dovecot's passdb + userdb).
// Any error is a failed login; the client only ever sees Dovecot's
// "Authentication failed." text.
type Authenticator = dovecotauth.Authenticator

// SystemAuth authenticates against passwd and shadow files (Dovecot's
// pam/shadow passdb with the passwd userdb).
type SystemAuth = dovecotauth.SystemAuth

// PasswdFileAuth authenticates against a Dovecot passwd-file, which also
// serves as the userdb.
type PasswdFileAuth = dovecotauth.PasswdFileAuth

// Config is what a POP3 listener needs. The zero value of each field
// means Dovecot's default, except Auth and MailLocation, which must be set
// (FromSettings fills everything from a dovecot.conf).
type Config struct {
	// Auth checks passwords.
	Auth Authenticator
	// Greeting is login_greeting ("Dovecot (Debian) ready.").
	Greeting string
	// SSL is "no", "yes" or "required"; TLS is the certificate
	// configuration (STLS and implicit TLS need it).
	SSL string
	TLS *tls.Config
	// ImplicitTLS makes every connection start with a TLS handshake
	// (the pop3s listener, port 995).
	ImplicitTLS bool
	// AllowPlaintext is !disable_plaintext_auth.
	AllowPlaintext bool
	// Mechanisms are auth_mechanisms ("plain", "login"); empty: plain.
	Mechanisms []string
	// AuthFailureDelay is auth_failure_delay (2 s when zero; negative
	// for none, in tests).
	AuthFailureDelay time.Duration
	// UsernameFormat is auth_username_format ("%Lu" when empty).
	UsernameFormat string
	// TrustedNetworks are login_trusted_networks.
	TrustedNetworks []netip.Prefix
	// FirstValidUID and LastValidUID bound the users' uids (0: no bound).
	FirstValidUID, LastValidUID uint32
	// MailLocation is mail_location, e.g. "mbox:~/mail:INBOX=/var/mail/%u".
	MailLocation string
	// Lock is the mbox locking (mbox_*_locks and timeouts).
	Lock mbox.LockOptions
	// Hostname goes into the pseudo message and dotlocks ("" = the
	// host's name).
	Hostname string
	// UIDLFormat is pop3_uidl_format ("%08Xu%08Xv" when empty).
	UIDLFormat string
	// NoFlagUpdates, LockSession, DeleteType, DeletedFlag and
	// LogoutFormat are pop3_no_flag_updates, pop3_lock_session,
	// pop3_delete_type, pop3_deleted_flag and pop3_logout_format.
	NoFlagUpdates bool
	LockSession   bool
	DeleteType    string
	DeletedFlag   string
	LogoutFormat  string
	// Log receives the login and logout lines (nil: none).
	Log *maillog.Logger
	// LoginTimeout and IdleTimeout end idle connections before and after
	// login (180 s and 600 s, as measured on Dovecot, when zero).
	LoginTimeout, IdleTimeout time.Duration

	// Handoff, when set, takes every logged-in session out of this
	// process: dovecotd started as root gives it to a mail process
	// running as the user (internal/privsep).
	Handoff HandoffFunc

	// Penalties is anvil's failed-login table, shared by the listeners
	// ServeConfig starts and with IMAP, as Dovecot's anvil is one per
	// server (nil: one of the listener's own).
	Penalties *dovecotauth.Penalties
}

// defaultLogoutFormat is pop3_logout_format's default.
const defaultLogoutFormat = "top=%t/%p, retr=%r/%b, del=%d/%m, size=%s"

// FromSettings returns the configuration of conf's POP3 service as
// Dovecot reads it for a connection on the given addresses (filter blocks
// such as protocol pop3 {} or remote {} applied).
func FromSettings(conf *doveconf.Config, local, remote netip.Addr) (Config, error) {
	m := doveconf.Match{Protocol: "pop3", Local: local, Remote: remote}
	s := conf.Settings(m)
	c := Config{
		Greeting:         s.LoginGreeting,
		SSL:              s.SSL,
		AllowPlaintext:   !s.DisablePlaintextAuth,
		Mechanisms:       s.AuthMechanisms,
		AuthFailureDelay: s.AuthFailureDelay,
		UsernameFormat:   s.AuthUsernameFormat,
		FirstValidUID:    s.FirstValidUID,
		LastValidUID:     s.LastValidUID,
		MailLocation:     s.MailLocation,
		UIDLFormat:       s.POP3UIDLFormat,
		NoFlagUpdates:    s.POP3NoFlagUpdates,
		LockSession:      s.POP3LockSession,
		DeleteType:       s.POP3DeleteType,
		LogoutFormat:     s.POP3LogoutFormat,
		Lock: mbox.LockOptions{
			Timeout:              s.MboxLockTimeout,
			DotlockChangeTimeout: s.MboxDotlockChangeTimeout,
			NoDotlock:            !contains(s.MboxWriteLocks, "dotlock"),
		},
	}
	if c.AuthFailureDelay == 0 {
		c.AuthFailureDelay = -1 // auth_failure_delay = 0: none
	}
	c.DeletedFlag, _ = conf.Value(m, "pop3_deleted_flag")
	for _, n := range s.LoginTrustedNetworks {
		p, err := parseNetwork(n)
		if err != nil {
			return c, fmt.Errorf("login_trusted_networks: %w", err)
		}
		c.TrustedNetworks = append(c.TrustedNetworks, p)
	}
	if s.SSL != "no" && s.SSLCert != "" {
		cert, err := conf.ReadValue(s.SSLCert)
		if err != nil {
			return c, fmt.Errorf("ssl_cert: %w", err)
		}
		key, err := conf.ReadValue(s.SSLKey)
		if err != nil {
			return c, fmt.Errorf("ssl_key: %w", err)
		}
		pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
		if err != nil {
			return c, fmt.Errorf("ssl_cert/ssl_key: %w", err)
		}
		c.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	}
	if err := c.check(); err != nil {
		return c, err
	}
	return c, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// check rejects settings Dovecot's pop3 refuses at startup.
func (c *Config) check() error {
	if _, err := parseUIDLFormat(c.uidlFormat()); err != nil {
		return err
	}
	switch c.DeleteType {
	case "", "default", "expunge":
	case "flag":
		if c.DeletedFlag == "" {
			return errors.New("pop3_delete_type=flag, but pop3_deleted_flag not set")
		}
	default:
		return fmt.Errorf("pop3_delete_type: unknown value %q", c.DeleteType)
	}
	return nil
}

func (c *Config) uidlFormat() string {
	if c.UIDLFormat == "" {
		return "%08Xu%08Xv"
	}
	return c.UIDLFormat
}

// deleteKeyword is the keyword DELE sets instead of expunging: with
// pop3_delete_type = flag, or = default when pop3_deleted_flag is set.
func (c *Config) deleteKeyword() string {
	switch c.DeleteType {
	case "flag", "", "default":
		return c.DeletedFlag
	}
	return ""
}
