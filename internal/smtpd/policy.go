// SPDX-License-Identifier: MIT

package smtpd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"regexp"
	"strings"

	"mailsuite/pkg/accessdb"
	"mailsuite/pkg/cf"
)

// Features are the FEATUREs of the sendmail.mc the cf was made from that
// change the daemon's policy. The m4 layer leaves a "$Id: name.m4" comment
// for each feature in the cf, which is how DetectFeatures finds them.
type Features struct {
	AccessDB                  bool
	AccessSkip                bool // FEATURE(access_db,,skip)
	LookupDotDomain           bool
	DelayChecks               bool
	BlocklistRecipients       bool
	AcceptUnqualifiedSenders  bool
	AcceptUnresolvableDomains bool
	RelayEntireDomain         bool
	RelayHostsOnly            bool
	RelayBasedOnMX            bool
	PromiscuousRelay          bool
	// RelayDenied is the text of the final "Relaying denied" rule
	// (confRELAY_MSG; TRUST_AUTH_MECH appends "Proper authentication
	// required.").
	RelayDenied string
}

var (
	featureRe = regexp.MustCompile(`(?m)^#####\s+\$Id: ([A-Za-z_]+)\.m4,`)
	relayMsg  = regexp.MustCompile(`(?m)^R\$\*\s+\$#error \$@ 5\.7\.1 \$: "550 (Relaying denied[^"]*)"`)
	// mc2cf leaves the rulesets out and states these facts in comments.
	mc2cfSkip  = regexp.MustCompile(`(?m)^#####  mc2cf policy: access_skip  #####$`)
	mc2cfRelay = regexp.MustCompile(`(?m)^#####  mc2cf policy: relay_msg "550 (Relaying denied[^"]*)"  #####$`)
)

// DetectFeatures reads the FEATUREs a cf was built with from its text.
func DetectFeatures(cfText string) Features {
	f := Features{RelayDenied: "Relaying denied"}
	for _, m := range featureRe.FindAllStringSubmatch(cfText, -1) {
		switch m[1] {
		case "access_db":
			f.AccessDB = true
		case "lookupdotdomain":
			f.LookupDotDomain = true
		case "delay_checks":
			f.DelayChecks = true
		case "blocklist_recipients", "blacklist_recipients":
			f.BlocklistRecipients = true
		case "accept_unqualified_senders":
			f.AcceptUnqualifiedSenders = true
		case "accept_unresolvable_domains":
			f.AcceptUnresolvableDomains = true
		case "relay_entire_domain":
			f.RelayEntireDomain = true
		case "relay_hosts_only":
			f.RelayHostsOnly = true
		case "relay_based_on_MX":
			f.RelayBasedOnMX = true
		case "promiscuous_relay":
			f.PromiscuousRelay = true
		}
	}
	if strings.Contains(cfText, "R<SKIP> <$+> <$+> <$- $-> <$*>") || mc2cfSkip.MatchString(cfText) {
		f.AccessSkip = true
	}
	if m := relayMsg.FindStringSubmatch(cfText); m != nil {
		f.RelayDenied = m[1]
	} else if m := mc2cfRelay.FindStringSubmatch(cfText); m != nil {
		f.RelayDenied = m[1]
	}
	return f
}

// Policy is sendmail's stock-ruleset policy (proto.m4's check_relay,
// check_mail, check_rcpt with Rcpt_ok and Relay_ok) over a loaded cf.
type Policy struct {
	Features Features
	// Hostname is $j, the canonical name of this host.
	Hostname string
	// Access is the access map checker; nil without FEATURE(access_db).
	Access *accessdb.Checker
	// Resolver answers the sender-domain and MX lookups and the client's
	// reverse lookups; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Recipients tells local users from unknown ones.
	Recipients Recipients

	classW, classM, classP, trustAuth map[string]bool
	classR                            []string
}

// NewPolicy builds a Policy from cfg. extraW are run-time members of
// class w sendmail adds itself ($w, $j, "[ip]" of the interfaces).
func NewPolicy(cfg *cf.Config, f Features, hostname string, extraW []string) *Policy {
	p := &Policy{Features: f, Hostname: hostname,
		classW: map[string]bool{}, classM: map[string]bool{}, classP: map[string]bool{}, trustAuth: map[string]bool{}}
	for _, w := range append(cfg.Class("w"), extraW...) {
		p.classW[strings.ToLower(strings.TrimSuffix(w, "."))] = true
	}
	for _, m := range cfg.Class("m") {
		p.classM[strings.ToLower(m)] = true
	}
	for _, w := range cfg.Class("P") {
		p.classP[strings.ToLower(w)] = true
	}
	for _, m := range cfg.Class("TrustAuthMech") {
		p.trustAuth[strings.ToUpper(m)] = true
	}
	for _, r := range cfg.Class("R") {
		p.classR = append(p.classR, strings.ToLower(strings.TrimSuffix(r, ".")))
	}
	return p
}

func (p *Policy) resolver() *net.Resolver {
	if p.Resolver != nil {
		return p.Resolver
	}
	return net.DefaultResolver
}

// IsLocal reports whether domain is in class w.
func (p *Policy) IsLocal(domain string) bool {
	return p.classW[strings.ToLower(strings.TrimSuffix(domain, "."))]
}

// inClassR reports whether domain ends in a class R entry (relay-domains),
// or equals one with FEATURE(relay_hosts_only).
func (p *Policy) inClassR(domain string) bool {
	d := strings.ToLower(domain)
	for _, r := range p.classR {
		if d == r || !p.Features.RelayHostsOnly && strings.HasSuffix(d, "."+r) {
			return true
		}
	}
	return false
}

// inClassM reports whether domain ends in $=m (relay_entire_domain).
func (p *Policy) inClassM(domain string) bool {
	d := strings.ToLower(domain)
	for m := range p.classM {
		if d == m || strings.HasSuffix(d, "."+m) {
			return true
		}
	}
	return false
}

// toRelay reports whether the access map says To:domain RELAY.
func (p *Policy) toRelay(domain string) (bool, error) {
	if p.Access == nil {
		return false, nil
	}
	r, err := p.Access.ToRelay(domain)
	if err != nil {
		return false, err
	}
	if r.Found && r.RHS.Kind == accessdb.TempFail {
		return false, errTempFail
	}
	return r.Found && r.RHS.Kind == accessdb.Relay, nil
}

var errTempFail = errors.New("access map temporary failure")

// ours reports whether mail for domain is accepted here as a final or
// relay destination, which is when ParseRecipient looks further into the
// local part.
func (p *Policy) ours(domain string) bool {
	if p.IsLocal(domain) || p.inClassR(domain) || p.Features.RelayEntireDomain && p.inClassM(domain) {
		return true
	}
	ok, _ := p.toRelay(domain)
	return ok
}

// Client is what the policy knows about the SMTP client: sendmail's
// {client_addr}, {client_name} and {client_resolve} macros and the AUTH
// mechanism that succeeded.
type Client struct {
	// Addr is the client's address; invalid for local submission.
	Addr netip.Addr
	// AddrMacro is {client_addr} ("127.0.0.20", "IPv6:…", "" locally).
	AddrMacro string
	// Name is {client_name}: the forward-confirmed PTR name, else the
	// bracketed address.
	Name string
	// Resolve is {client_resolve}: OK, FAIL, FORGED or TEMP.
	Resolve string
	// AuthMech is {auth_type} after a successful AUTH.
	AuthMech string
}

// validName returns the client's validated host name, or "".
func (c *Client) validName() string {
	if c.Resolve == "OK" {
		return c.Name
	}
	return ""
}

// Lookup results of ResolveClient.
const (
	ResolveOK     = "OK"
	ResolveFail   = "FAIL"
	ResolveForged = "FORGED"
	ResolveTemp   = "TEMP"
)

// ResolveClient fills {client_name} and {client_resolve} for addr the
// way sendmail does: the PTR name counts only when it resolves back to
// the address.
func (p *Policy) ResolveClient(ctx context.Context, addr netip.Addr, compressed bool) Client {
	addr = addr.Unmap()
	c := Client{Addr: addr, AddrMacro: accessdb.ClientAddr(addr, compressed),
		Name: accessdb.ClientLiteral(addr, compressed), Resolve: ResolveFail}
	r := p.resolver()
	names, err := r.LookupAddr(ctx, addr.String())
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && (de.IsTemporary || de.IsTimeout) {
			c.Resolve = ResolveTemp
		}
		return c
	}
	if len(names) == 0 {
		return c
	}
	name := strings.TrimSuffix(names[0], ".")
	ips, err := r.LookupNetIP(ctx, "ip", name)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && (de.IsTemporary || de.IsTimeout) {
			c.Resolve = ResolveTemp
			return c
		}
		c.Resolve = ResolveForged
		return c
	}
	for _, ip := range ips {
		if ip.Unmap() == addr {
			c.Name, c.Resolve = name, ResolveOK
			return c
		}
	}
	c.Resolve = ResolveForged
	return c
}

// local reports whether the client is the host itself ({client_addr}
// empty, 0, or the loopback address Relay_ok names).
func (c *Client) local() bool {
	switch c.AddrMacro {
	case "", "0", "127.0.0.1", "IPv6:0:0:0:0:0:0:0:1", "IPv6:::1":
		return true
	}
	return false
}

// CheckConnect is check_relay: the Connect: lookups on the client's name
// and address. It returns the refusal reply line, or "" to accept;
// discard reports a DISCARD (or QUARANTINE) value.
func (p *Policy) CheckConnect(c *Client) (refusal string, discard bool) {
	if p.Access == nil || c.AddrMacro == "" {
		return "", false
	}
	r, err := p.Access.Connect(c.Name, c.AddrMacro)
	if err != nil {
		return accessdb.ErrorReply("4.3.0", accessdb.TempFailText, ""), false
	}
	if !r.Found {
		return "", false
	}
	if r.RHS.Kind == accessdb.Discard || r.RHS.Kind == accessdb.Quarantine {
		return "", true
	}
	reply, refuse := p.Access.Reply(accessdb.CheckRelay, r.RHS, "")
	if !refuse {
		return "", false
	}
	return reply, false
}

// mailVerdict is the outcome of check_mail.
type mailVerdict struct {
	refusal *addrError // a table reply
	line    string     // or a reply line from the access map
	discard bool
}

// CheckMail is check_mail for sender a from client c.
func (p *Policy) CheckMail(ctx context.Context, c *Client, a Address) mailVerdict {
	if a.Null {
		return mailVerdict{}
	}
	local := dequote(a.Local)
	dom := strings.ToLower(a.Domain)
	// Senders "@localhost" and the like from a client that is not local.
	if dom == "localhost" || dom == "[127.0.0.1]" || dom == "[ipv6:0:0:0:0:0:0:0:1]" || dom == "[ipv6:::1]" ||
		dom == "localhost.uucp" {
		if !p.IsLocal(c.Name) {
			return mailVerdict{refusal: &addrError{rRealDomainReqd, []any{a.Echo}}}
		}
	}
	resolved := "OKR"
	if dom != "" && !p.Features.AcceptUnresolvableDomains && !p.classP[dom] && dom != strings.ToLower(p.Hostname) &&
		!strings.HasPrefix(dom, "[") {
		resolved = p.resolveDomain(ctx, a.Domain)
	}
	addr := local
	if a.Domain != "" {
		addr = local + "@" + a.Domain
	}
	if p.Access != nil {
		r, err := p.Access.From(addr)
		if err != nil {
			return mailVerdict{line: accessdb.ErrorReply("4.3.0", accessdb.TempFailText, a.Echo)}
		}
		if r.Found {
			switch r.RHS.Kind {
			case accessdb.OK, accessdb.Relay:
				return mailVerdict{}
			case accessdb.Discard, accessdb.Quarantine:
				return mailVerdict{discard: true}
			case accessdb.Skip, accessdb.Empty:
			default:
				if line, refuse := p.Access.Reply(accessdb.CheckMail, r.RHS, a.Echo); refuse {
					return mailVerdict{line: line}
				}
			}
		}
	}
	if a.Domain == "" {
		if p.Features.AcceptUnqualifiedSenders || c.AddrMacro == "" {
			return mailVerdict{}
		}
		return mailVerdict{refusal: &addrError{rDomainRequired, []any{a.Echo, addrText(a)}}}
	}
	switch resolved {
	case "TEMP":
		return mailVerdict{line: rSenderTempDNS.line(addrText(a))}
	case "PERM":
		return mailVerdict{refusal: &addrError{rSenderNoDomain, []any{a.Echo, addrText(a)}}}
	}
	return mailVerdict{}
}

// addrText is $&f: the address without brackets as the client gave it.
func addrText(a Address) string {
	return strings.TrimSuffix(strings.TrimPrefix(a.Echo, "<"), ">")
}

// resolveDomain is the resolve map of check_mail: OKR when the domain has
// an address or MX record, PERM when it does not exist, TEMP otherwise.
func (p *Policy) resolveDomain(ctx context.Context, domain string) string {
	r := p.resolver()
	if _, err := r.LookupMX(ctx, domain); err == nil {
		return "OKR"
	} else if isTemp(err) {
		return "TEMP"
	}
	if _, err := r.LookupNetIP(ctx, "ip", domain); err == nil {
		return "OKR"
	} else if isTemp(err) {
		return "TEMP"
	}
	return "PERM"
}

func isTemp(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && !de.IsNotFound && (de.IsTemporary || de.IsTimeout)
}

// rcptVerdict is the outcome of check_rcpt for one recipient.
type rcptVerdict struct {
	refusal *addrError
	line    string
	discard bool
	// Local is set for a recipient delivered here; User is then the
	// local part to deliver to. Otherwise Local/Domain name the
	// resolved remote destination.
	Local  bool
	User   string
	Domain string
}

// CheckRcpt is check_rcpt (Rcpt_ok, then Relay_ok) and the local-user
// check after it. delayed, when not nil, runs between the two, as
// FEATURE(delay_checks) runs the sender and client checks after the
// relay test and before the recipient's local part is resolved; it is
// skipped after AUTH with a TrustAuthMech mechanism.
func (p *Policy) CheckRcpt(ctx context.Context, c *Client, a Address, delayed func(v rcptVerdict) string) rcptVerdict {
	if a.Null {
		return rcptVerdict{refusal: &addrError{rNullRecipient, []any{a.Echo}}}
	}
	local, domain := finalHop(a.Local, a.Domain, p.ours)
	local = dequote(local)
	finish := func() rcptVerdict {
		if delayed != nil && !p.trustedAuth(c) {
			v := rcptVerdict{Local: domain == "" || p.IsLocal(domain), User: local, Domain: domain}
			if line := delayed(v); line != "" {
				return rcptVerdict{line: line}
			}
		}
		return p.finishRcpt(ctx, a, local, domain)
	}
	if p.Features.PromiscuousRelay {
		return finish()
	}
	if p.Features.BlocklistRecipients && p.Access != nil {
		addr := local
		if domain != "" {
			addr = local + "@" + domain
		}
		r, err := p.Access.ToBlocklist(addr, domain == "" || p.IsLocal(domain))
		if err != nil {
			return rcptVerdict{line: rRcptTempFail.line()}
		}
		if r.Found {
			switch r.RHS.Kind {
			case accessdb.Discard, accessdb.Quarantine:
				return rcptVerdict{discard: true, Local: true, User: local}
			default:
				if line, refuse := p.Access.Reply(accessdb.CheckRcpt, r.RHS, a.Echo); refuse {
					return rcptVerdict{line: line}
				}
			}
		}
	}
	relay := false
	switch {
	case p.trustedAuth(c):
		relay = true
	case domain == "" || p.IsLocal(domain):
		relay = true
	case p.Features.RelayEntireDomain && p.inClassM(domain):
		relay = true
	case p.inClassR(domain):
		relay = true
	default:
		ok, err := p.toRelay(domain)
		if err != nil {
			return rcptVerdict{line: rRcptTempFail.line()}
		}
		relay = ok || p.Features.RelayBasedOnMX && p.mxServed(ctx, domain)
	}
	if !relay {
		if v, denied := p.relayOK(c, a); denied {
			return v
		}
	}
	return finish()
}

// trustedAuth reports AUTH with a mechanism of class TrustAuthMech.
func (p *Policy) trustedAuth(c *Client) bool {
	return c.AuthMech != "" && p.trustAuth[strings.ToUpper(c.AuthMech)]
}

// Canonical returns a with a domain of class w replaced by $j, as the
// sender macro $f holds it once sendmail canonicalized the address.
func (p *Policy) Canonical(a Address) Address {
	if a.Domain != "" && p.IsLocal(a.Domain) && !strings.HasPrefix(a.Domain, "[") {
		a.Domain = p.Hostname
	}
	return a
}

// finishRcpt checks a local recipient against the user database.
func (p *Policy) finishRcpt(ctx context.Context, a Address, local, domain string) rcptVerdict {
	if vr, ok := p.Recipients.(VirtualRecipients); ok && domain != "" {
		refusal, handled, err := vr.CheckVirtual(ctx, local, domain)
		switch {
		case err != nil:
			return rcptVerdict{line: rRcptTempFail.line()}
		case refusal != "":
			return rcptVerdict{line: refusal}
		case handled && p.IsLocal(domain):
			return rcptVerdict{Local: true, User: strings.ToLower(local)}
		case handled:
			return rcptVerdict{User: local, Domain: domain}
		}
	}
	if domain != "" && !p.IsLocal(domain) {
		return rcptVerdict{User: local, Domain: domain}
	}
	user := strings.ToLower(local)
	if p.Recipients != nil {
		ok, err := p.Recipients.Exists(ctx, user)
		if err != nil {
			return rcptVerdict{line: rRcptTempFail.line()}
		}
		if !ok {
			if base, _, found := strings.Cut(user, "+"); found && base != "" {
				ok, err = p.Recipients.Exists(ctx, base)
				if err != nil {
					return rcptVerdict{line: rRcptTempFail.line()}
				}
			}
		}
		if !ok {
			return rcptVerdict{refusal: &addrError{rUserUnknown, []any{a.Echo}}}
		}
	}
	return rcptVerdict{Local: true, User: user}
}

// relayOK is Relay_ok: may this client relay? denied reports a refusal.
func (p *Policy) relayOK(c *Client, a Address) (rcptVerdict, bool) {
	if c.local() {
		return rcptVerdict{}, false
	}
	for _, r := range p.classR {
		if c.AddrMacro == r || strings.HasPrefix(c.AddrMacro, r+".") || strings.HasPrefix(c.AddrMacro, r+":") {
			return rcptVerdict{}, false
		}
	}
	if p.Access != nil {
		r, err := p.Access.Addr(accessdb.TagConnect, c.AddrMacro, false)
		if err != nil {
			return rcptVerdict{line: rRcptTempFail.line()}, true
		}
		if r.Found && r.RHS.Kind == accessdb.Relay {
			return rcptVerdict{}, false
		}
		if r.Found && r.RHS.Kind == accessdb.TempFail {
			return rcptVerdict{line: rRcptTempFail.line()}, true
		}
	}
	if p.IsLocal("[" + c.AddrMacro + "]") {
		return rcptVerdict{}, false
	}
	switch c.Resolve {
	case ResolveTemp:
		return rcptVerdict{refusal: &addrError{rRelayTemp, []any{a.Echo, c.AddrMacro}}}, true
	case ResolveForged:
		return rcptVerdict{refusal: &addrError{rRelayForged, []any{a.Echo, c.Name}}}, true
	case ResolveFail:
		return rcptVerdict{refusal: &addrError{rRelayLookupFail, []any{a.Echo, c.Name}}}, true
	}
	name := c.validName()
	if name != "" {
		if p.IsLocal(name) || p.Features.RelayEntireDomain && p.inClassM(name) || p.inClassR(name) {
			return rcptVerdict{}, false
		}
		if p.Access != nil {
			r, err := p.Access.Domain(accessdb.TagConnect, name, false)
			if err != nil {
				return rcptVerdict{line: rRcptTempFail.line()}, true
			}
			if r.Found && r.RHS.Kind == accessdb.Relay {
				return rcptVerdict{}, false
			}
		}
	}
	return rcptVerdict{refusal: &addrError{rRelayDenied, []any{a.Echo, p.Features.RelayDenied}}}, true
}

// mxServed is relay_based_on_MX: is one of domain's MX hosts in class w?
func (p *Policy) mxServed(ctx context.Context, domain string) bool {
	mxs, err := p.resolver().LookupMX(ctx, domain)
	if err != nil {
		return false
	}
	for _, mx := range mxs {
		if p.IsLocal(mx.Host) {
			return true
		}
	}
	return false
}

// SpamFriend is the delay_checks Spam: lookup: FRIEND recipients skip the
// delayed sender and client checks.
func (p *Policy) SpamFriend(rcpt string, localDomain bool) bool {
	if p.Access == nil {
		return false
	}
	r, err := p.Access.Spam(rcpt, localDomain)
	return err == nil && r.Found && r.RHS.Kind == accessdb.Friend
}

// RuntimeClassW returns the members of class w sendmail adds when it
// starts: $j and its first label, the aliases and addresses its host
// name resolves to (as "[ip]"), and unless DontProbeInterfaces the
// addresses of the network interfaces.
func RuntimeClassW(ctx context.Context, cfg *cf.Config, hostname string, r *net.Resolver) []string {
	if r == nil {
		r = net.DefaultResolver
	}
	w := []string{hostname}
	if short, _, ok := strings.Cut(hostname, "."); ok {
		w = append(w, short)
	}
	if ips, err := r.LookupNetIP(ctx, "ip", hostname); err == nil {
		for _, ip := range ips {
			w = append(w, accessdb.ClientLiteral(ip.Unmap(), cfg.UseCompressedIPv6Addresses))
		}
	}
	if !cfg.DontProbeInterfaces {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if pn, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(pn.IP); ok {
						w = append(w, accessdb.ClientLiteral(ip.Unmap(), cfg.UseCompressedIPv6Addresses))
					}
				}
			}
		}
	}
	return w
}
