// SPDX-License-Identifier: MIT

package mta

import (
	"context"
	"errors"
	"strings"

	"mailsuite/internal/aliases"
	"mailsuite/pkg/accessdb"
)

// virtExpander is the alias expander with FEATURE(virtusertable) on: a
// copy of m.exp whose Virtuser looks keys up in the cf's "virtuser" map
// (reopened when makemap replaces the file) and whose IsVirtHost is
// class {VirtHost}. Nil when the cf has no virtuser map or it cannot be
// opened (logged once, as sendmail logs a map it cannot open).
func (m *MTA) virtExpander() *aliases.Expander {
	m.virtOnce.Do(func() {
		mt := m.cf.Maps["virtuser"]
		if mt == nil || m.exp == nil {
			return
		}
		db, err := accessdb.OpenDB(mt.File, accessdb.DBOptions{NoFoldCase: mt.NoFoldCase(), IncludeNull: mt.IncludeNull(),
			NoTryNull: mt.NoTryNull(), Optional: mt.Optional(), DontBlameSendmail: m.cf.DontBlameSendmail})
		if err != nil {
			m.log.Logf(0o23, "SYSERR: virtuser %s: %v", mt.File, err)
			return
		}
		x := *m.exp
		x.Virtuser = db.Lookup
		x.IsVirtHost = func(d string) bool { return m.cf.InClass("VirtHost", strings.TrimSuffix(d, ".")) }
		m.virt = &x
	})
	return m.virt
}

// expandRcpt expands a queued recipient (addr as in the qf, user its
// lower-case local part when the domain is local): through the
// virtusertable first when the feature is on, then aliases. handled is
// false for an address that is neither local nor of a virtual host.
func (m *MTA) expandRcpt(addr, user string, isLocal bool) (targets []aliases.Target, errs []error, handled bool) {
	if x := m.virtExpander(); x != nil {
		a := bare(addr)
		if at := strings.LastIndexByte(a, '@'); at > 0 && (isLocal || x.IsVirtHost(a[at+1:])) {
			targets, errs = x.Expand(a)
			return targets, errs, true
		}
	}
	if !isLocal {
		return nil, nil, false
	}
	targets, errs = m.exp.Expand(user)
	return targets, errs, true
}

// virtRecipients is the SMTP server's recipient check with the
// virtusertable on: smtpd.VirtualRecipients.
type virtRecipients struct{ m *MTA }

func (v virtRecipients) Exists(ctx context.Context, user string) (bool, error) {
	return v.m.exp.Exists(ctx, user)
}

// CheckVirtual resolves local@domain as delivery will: an error: entry
// is refused with its reply, a result that is no user with
// "User unknown", as sendmail's RCPT does.
func (v virtRecipients) CheckVirtual(_ context.Context, local, domain string) (string, bool, error) {
	x := v.m.virtExpander()
	domain = strings.TrimSuffix(domain, ".")
	if x == nil || !(v.m.isLocal(domain) || x.IsVirtHost(domain)) {
		return "", false, nil
	}
	r, err := aliases.VirtLookup(x.Virtuser, local, domain)
	if err != nil || !r.Found {
		return "", false, err
	}
	addr := local + "@" + domain
	targets, errs := x.Expand(addr)
	if len(targets) > 0 {
		return "", true, nil
	}
	for _, e := range errs {
		var ve *aliases.VirtUserError
		var loop *aliases.LoopError
		switch {
		case errors.As(e, &ve):
			return ve.Reply(), true, nil
		case errors.Is(e, aliases.ErrUserUnknown), errors.Is(e, aliases.ErrAliasLoop), errors.As(e, &loop):
		default:
			return "", true, e
		}
	}
	return "550 5.1.1 <" + addr + ">... User unknown", true, nil
}
