// SPDX-License-Identifier: MIT

package mta

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	"mailsuite/internal/maillog"
	"mailsuite/internal/smtpd"
	"mailsuite/pkg/cf"
)

// LoadOptions name what Load cannot find in the cf.
type LoadOptions struct {
	// Log is the mail log; required.
	Log *maillog.Logger
	// Resolver is used by the SMTP server for client lookups and by the
	// courier; nil means the system resolver (see remote.SystemResolver).
	Resolver *net.Resolver
	// Dial opens the courier's connections; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Hostname overrides $j.
	Hostname string
	// SpoolDir overrides the mailbox directory (see Options.SpoolDir).
	SpoolDir string
	// NoAuth disables SMTP AUTH.
	NoAuth bool
}

// Load assembles an MTA and the SMTP server's configuration from the cf
// at path: the server's Spool is the MTA's queue (with background
// delivery as DeliveryMode says) and its Recipients the MTA's aliases and passwd users. The
// closer releases the access map; Close the MTA separately.
func Load(path string, o LoadOptions) (*MTA, smtpd.Config, []error, func(), error) {
	c, err := cf.Load(path, cf.Options{})
	if err != nil {
		return nil, smtpd.Config{}, nil, func() {}, err
	}
	m, err := New(Options{CF: c, Log: o.Log, Hostname: o.Hostname, SpoolDir: o.SpoolDir, Resolver: o.Resolver, Dial: o.Dial})
	if err != nil {
		return nil, smtpd.Config{}, nil, func() {}, err
	}
	scfg, warnings, closer, err := smtpd.LoadConfig(path, smtpd.LoadOptions{
		Resolver: o.Resolver, Hostname: o.Hostname, Spool: m.Spool(c.DeliveryMode), Recipients: m.Recipients(), Log: o.Log, NoAuth: o.NoAuth,
	})
	if err != nil {
		m.Close()
		return nil, scfg, warnings, func() {}, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	// ETRN starts a queue run for the node's recipients.
	scfg.ETRN = m.ETRN
	if o.Hostname == "" && scfg.Hostname != "" {
		m.hostname = scfg.Hostname
		m.exp.Hostname = scfg.Hostname
	}
	if scfg.Policy != nil {
		m.isLocal = scfg.Policy.IsLocal
		m.exp.IsLocal = scfg.Policy.IsLocal
	}
	return m, scfg, warnings, closer, nil
}
