// SPDX-License-Identifier: MIT

package accessdb

import "strings"

// A step of a lookup list (proto.m4's SearchList): which ruleset, on what.
type step struct {
	kind byte // 'D', 'A', 'E', 'F', 'U'
	item string
}

// search runs steps in order and returns the first hit.
func (c *Checker) search(tag string, tagOnly bool, steps ...step) (Result, error) {
	for _, s := range steps {
		var (
			r   Result
			err error
		)
		switch s.kind {
		case 'D':
			r, err = c.Domain(tag, s.item, tagOnly)
		case 'A':
			r, err = c.Addr(tag, s.item, tagOnly)
		case 'E':
			r, err = c.Exact(tag, s.item, tagOnly)
		case 'F':
			r, err = c.Full(tag, s.item, tagOnly)
		case 'U':
			r, err = c.User(tag, s.item, tagOnly)
		}
		if err != nil || r.Found {
			return r, err
		}
	}
	return Result{}, nil
}

// SplitAddress splits an envelope address the way the access checks see
// it after canonicalisation: angle brackets and a trailing dot on the
// domain removed, the domain after the last "@". domain is empty for an
// unqualified address ("user").
func SplitAddress(addr string) (local, domain string) {
	a := strings.TrimSpace(addr)
	if strings.HasPrefix(a, "<") && strings.HasSuffix(a, ">") {
		a = a[1 : len(a)-1]
	}
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return a, ""
	}
	local, domain = a[:i], a[i+1:]
	for strings.HasSuffix(domain, ".") {
		domain = domain[:len(domain)-1]
	}
	return local, domain
}

// Connect is check_relay's lookup (Basic_check_relay): the D walk with
// Connect: on {client_name}, then the A walk on {client_addr}, each key
// also untagged. Sendmail makes no lookup at all when clientAddr is
// empty.
func (c *Checker) Connect(clientName, clientAddr string) (Result, error) {
	if clientAddr == "" {
		return Result{}, nil
	}
	if clientName == "" {
		return c.search(TagConnect, false, step{'A', clientAddr})
	}
	return c.search(TagConnect, false, step{'D', clientName}, step{'A', clientAddr})
}

// From is check_mail's lookup of the envelope sender: F (user@domain),
// U (user@), D (domain and its parents), with From: and untagged. An
// unqualified sender gets only the U lookup. The null sender <> is never
// looked up.
func (c *Checker) From(sender string) (Result, error) {
	local, domain := SplitAddress(sender)
	if local == "" && domain == "" {
		return Result{}, nil
	}
	if !strings.Contains(strings.Trim(strings.TrimSpace(sender), "<>"), "@") {
		return c.search(TagFrom, false, step{'U', local + "@"})
	}
	return c.search(TagFrom, false, step{'F', local + "@" + domain}, step{'U', local + "@"}, step{'D', domain})
}

// ToRelay is the relay test of Rcpt_ok: the D walk with To: on the
// recipient domain (and untagged). Only RELAY and TempFail results act.
func (c *Checker) ToRelay(domain string) (Result, error) {
	return c.Domain(TagTo, domain, false)
}

// ToBlocklist is FEATURE(blocklist_recipients): F, then U when the
// domain is local (in class w), then D, with To: and untagged; an
// address without a domain gets only U.
func (c *Checker) ToBlocklist(rcpt string, localDomain bool) (Result, error) {
	local, domain := SplitAddress(rcpt)
	if domain == "" {
		return c.search(TagTo, false, step{'U', local + "@"})
	}
	if localDomain {
		return c.search(TagTo, false, step{'F', local + "@" + domain}, step{'U', local + "@"}, step{'D', domain})
	}
	return c.search(TagTo, false, step{'F', local + "@" + domain}, step{'D', domain})
}

// Spam is the delay_checks friend/hater lookup on the (qualified)
// recipient: F, D, then U when the domain is local; Spam: keys only.
func (c *Checker) Spam(rcpt string, localDomain bool) (Result, error) {
	local, domain := SplitAddress(rcpt)
	steps := []step{{'F', local + "@" + domain}, {'D', domain}}
	if localDomain {
		steps = append(steps, step{'U', local + "@"})
	}
	return c.search(TagSpam, true, steps...)
}

// GreetPause is FEATURE(greet_pause): D on {client_name}, then A on
// {client_addr}, GreetPause: keys only. Not found means the FEATURE's
// default pause; the bare "GreetPause:" entry is not looked up.
func (c *Checker) GreetPause(clientName, clientAddr string) (Result, error) {
	if clientAddr == "" {
		return Result{}, nil
	}
	if clientName == "" {
		return c.search(TagGreetPause, true, step{'A', clientAddr})
	}
	return c.search(TagGreetPause, true, step{'D', clientName}, step{'A', clientAddr})
}

// ClientRate is FEATURE(ratecontrol): A on {client_addr}, then the
// default entry "ClientRate:"; tag only.
func (c *Checker) ClientRate(clientAddr string) (Result, error) {
	return c.addrThenDefault(TagClientRate, clientAddr)
}

// ClientConn is FEATURE(conncontrol), looked up like ClientRate.
func (c *Checker) ClientConn(clientAddr string) (Result, error) {
	return c.addrThenDefault(TagClientConn, clientAddr)
}

func (c *Checker) addrThenDefault(tag, addr string) (Result, error) {
	if addr == "" {
		return c.search(tag, true, step{'E', ""})
	}
	return c.search(tag, true, step{'A', addr}, step{'E', ""})
}

// Features is the lookup of srv_features (TagSrvFeatures, on every
// connection), clt_features (TagCltFeatures), tls_client (TagTLSClt),
// tls_server (TagTLSSrv) and try_tls (TagTryTLS): D on the peer's name,
// A on its address, then the default entry "Tag:"; tag only. An empty
// name looks up "Tag:" in place of the D walk, as ruleset D does.
func (c *Checker) Features(tag, name, addr string) (Result, error) {
	if addr == "" {
		return c.search(tag, true, step{'D', name}, step{'E', ""})
	}
	return c.search(tag, true, step{'D', name}, step{'A', addr}, step{'E', ""})
}

// TLSRcpt is tls_rcpt: F, U, D, then the default "TLS_Rcpt:"; tag only.
// A recipient without a domain gets U and the default.
func (c *Checker) TLSRcpt(rcpt string) (Result, error) {
	local, domain := SplitAddress(rcpt)
	if domain == "" {
		return c.search(TagTLSRcpt, true, step{'U', local + "@"}, step{'E', ""})
	}
	return c.search(TagTLSRcpt, true, step{'F', local + "@" + domain}, step{'U', local + "@"}, step{'D', domain}, step{'E', ""})
}
