// SPDX-License-Identifier: MIT

package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"mailsuite/internal/maillog"
	"mailsuite/pkg/accessdb"
	"mailsuite/pkg/cf"
	"mailsuite/pkg/shadowauth"
)

// LoadOptions name what LoadConfig cannot find in the cf itself.
type LoadOptions struct {
	// Root is passed to cf.Load (a directory tree for F-line paths).
	Root string
	// Resolver is used for the client lookups and class w; nil means
	// the system resolver.
	Resolver *net.Resolver
	// Hostname overrides $j.
	Hostname string
	// Spool, Recipients and Log are handed through; Recipients nil means
	// the users of the passwd file (shadowauth.DefaultPaths).
	Spool      Spool
	Recipients Recipients
	Log        *maillog.Logger
	// NoAuth disables SMTP AUTH (it is on when AuthMechanisms names
	// PLAIN or LOGIN, against the passwd and shadow files).
	NoAuth bool
}

// LoadConfig reads the cf at path and opens what it names: the access
// map, the TLS certificate, class w. Problems that sendmail only reports
// (cf lines it skips) come back as warnings with a usable Config; an
// error means the daemon cannot run. The caller closes the returned
// closer (the access map) when the Config is no longer used.
func LoadConfig(path string, o LoadOptions) (cfg Config, warnings []error, closer func(), err error) {
	closer = func() {}
	c, cerr := cf.Load(path, cf.Options{Root: o.Root})
	if c == nil {
		return cfg, nil, closer, fmt.Errorf("read %s: %w", path, cerr)
	}
	if cerr != nil {
		warnings = append(warnings, cerr)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return cfg, warnings, closer, fmt.Errorf("read %s: %w", path, err)
	}
	f := DetectFeatures(string(text))
	host := o.Hostname
	if host == "" {
		if j, ok := c.Macro("j"); ok && !strings.Contains(j, "$") {
			host = j
		} else if host, err = os.Hostname(); err != nil {
			return cfg, warnings, closer, fmt.Errorf("host name: %w", err)
		}
	}
	pol := NewPolicy(c, f, host, RuntimeClassW(context.Background(), c, host, o.Resolver))
	pol.Resolver = o.Resolver
	pol.Recipients = o.Recipients
	if pol.Recipients == nil {
		pol.Recipients = passwdUsers{path: shadowauth.DefaultPaths().Passwd}
	}
	if m := c.AccessMap(); m != nil && f.AccessDB {
		db, err := accessdb.OpenDB(m.File, accessdb.DBOptions{NoFoldCase: m.NoFoldCase(), IncludeNull: m.IncludeNull(),
			NoTryNull: m.NoTryNull(), Optional: m.Optional(), MatchOnly: m.MatchOnly(), Append: m.Append(),
			DontBlameSendmail: c.DontBlameSendmail})
		if err != nil {
			return cfg, warnings, closer, fmt.Errorf("access map %s: %w", m.File, err)
		}
		closer = func() { db.Close() }
		pol.Access = &accessdb.Checker{Map: db, Skip: f.AccessSkip, TempFail: m.TempFail() != ""}
	}
	cfg = Config{CF: c, Policy: pol, Spool: o.Spool, Log: o.Log, Hostname: host}
	if c.ServerCertFile != "" && c.ServerKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.ServerCertFile, c.ServerKeyFile)
		if err != nil {
			warnings = append(warnings, fmt.Errorf("STARTTLS: %w", err))
		} else {
			cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
	}
	if !o.NoAuth {
		sys := shadowauth.NewSystem()
		cfg.Auth = AuthFunc(func(user, pass string) error {
			_, err := sys.Authenticate(user, pass)
			return err
		})
	}
	return cfg, warnings, closer, nil
}

// passwdUsers are the local users of a passwd file. Aliases come from
// internal/aliases once it is wired in.
type passwdUsers struct{ path string }

func (p passwdUsers) Exists(_ context.Context, user string) (bool, error) {
	_, err := shadowauth.LookupUser(p.path, user)
	if errors.Is(err, shadowauth.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
