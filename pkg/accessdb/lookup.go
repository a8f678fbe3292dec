// SPDX-License-Identifier: MIT

package accessdb

import (
	"fmt"
	"strings"
)

// The tags of access-map keys (Tag:item), as proto.m4 and the FEATUREs
// spell them. The map folds case, so only the spelling of the key
// recorded in Result.Key depends on it.
const (
	TagConnect     = "Connect"
	TagFrom        = "From"
	TagTo          = "To"
	TagSpam        = "Spam"
	TagGreetPause  = "GreetPause"
	TagClientRate  = "ClientRate"
	TagClientConn  = "ClientConn"
	TagSrvFeatures = "Srv_Features"
	TagCltFeatures = "Clt_Features"
	TagTLSClt      = "TLS_Clt"
	TagTLSSrv      = "TLS_Srv"
	TagTLSRcpt     = "TLS_Rcpt"
	TagTryTLS      = "Try_TLS"
)

// Checker performs the access-map lookups of Sendmail 8.17's rulesets
// over a Map. Its fields mirror how the map was declared in the mc file.
type Checker struct {
	// Map is the access map.
	Map Map
	// Skip is FEATURE(access_db,,skip): a SKIP value ends a domain or
	// address walk with "not found".
	Skip bool
	// TempFail is the -T<TMPF> flag of the K line (always present in
	// FEATURE(access_db)): a map error becomes a TempFail result instead
	// of an error.
	TempFail bool
	// LookupDotDomain is FEATURE(lookupdotdomain): domain walks also try
	// ".parent.domain" keys.
	LookupDotDomain bool
	// RejectMsg is confREJECT_MSG, the text of REJECT in check_relay and
	// check_mail when it is not the default "550 Access denied".
	RejectMsg string
}

// Result is the outcome of one lookup sequence.
type Result struct {
	// Found reports a hit. A SKIP that ended a walk is not a hit.
	Found bool
	// Key is the key that hit, as built by the rules (before the map
	// folds its case); for TempFail, the key whose lookup failed.
	Key string
	// RHS is the parsed value; zero when nothing was found.
	RHS RHS
}

// get does one map lookup. ok is false for a miss, and for the value
// "?", which the rules cannot tell from their own "not found" mark.
func (c *Checker) get(key string) (Result, bool, error) {
	v, ok, err := c.Map.Lookup(key)
	if err != nil {
		if !c.TempFail {
			return Result{}, false, fmt.Errorf("access map lookup %q: %w", key, err)
		}
		// map_tapp: the rules see <TMPF> in place of a value (sendmail -bt
		// shows D returning "< < TMPF > >").
		return Result{Found: true, Key: key, RHS: RHS{Kind: TempFail, Value: "<TMPF>"}}, true, nil
	}
	if !ok || join(tokenize(v)) == "?" {
		return Result{}, false, nil
	}
	return Result{Found: true, Key: key, RHS: ParseRHS(v)}, true, nil
}

// pair looks item up with the tag and then, unless tagOnly, without it.
func (c *Checker) pair(tag, item string, tagOnly bool) (Result, bool, error) {
	r, ok, err := c.get(tag + ":" + item)
	if ok || err != nil || tagOnly || item == "" {
		return r, ok, err
	}
	return c.get(item)
}

// skipped applies FEATURE(access_db,,skip) to the hit of a D or A walk.
func (c *Checker) skipped(r Result) bool { return c.Skip && r.RHS.Kind == Skip }

// Domain is ruleset D (LookUpDomain): host, then each parent domain
// (host.sub.example, sub.example, example); a bracketed address literal
// drops its last octet or group instead ([1.2.3.4], [1.2.3], …). Each
// item is looked up with the tag, then (unless tagOnly) without it.
func (c *Checker) Domain(tag, host string, tagOnly bool) (Result, error) {
	item := join(tokenize(host))
	for {
		r, ok, err := c.pair(tag, item, tagOnly)
		if err != nil {
			return Result{}, err
		}
		toks := tokenize(item)
		if !ok && c.LookupDotDomain {
			if i := firstOp(toks, '.', 1); i >= 0 && i < len(toks)-1 {
				r, ok, err = c.pair(tag, "."+join(toks[i+1:]), tagOnly)
				if err != nil {
					return Result{}, err
				}
			}
		}
		if ok {
			if c.skipped(r) {
				return Result{}, nil
			}
			return r, nil
		}
		if item == "" {
			return Result{}, nil
		}
		n := len(toks)
		switch {
		case n >= 5 && toks[0].isOp('[') && toks[n-1].isOp(']') && toks[n-3].isOp('.'):
			item = join(append(toks[:n-3:n-3], toks[n-1]))
		case n >= 6 && toks[0].isOp('[') && toks[n-1].isOp(']') && toks[n-3].isOp(':') && toks[n-4].isOp(':'):
			item = join(append(toks[:n-4:n-4], toks[n-1]))
		case n >= 5 && toks[0].isOp('[') && toks[n-1].isOp(']') && toks[n-3].isOp(':'):
			item = join(append(toks[:n-3:n-3], toks[n-1]))
		default:
			i := firstOp(toks, '.', 1)
			if i < 0 || i == n-1 {
				return Result{}, nil
			}
			item = join(toks[i+1:])
		}
	}
}

// Addr is ruleset A (LookUpAddress) on a {client_addr} value: the
// address, then with one ".octet" or ":group" dropped at a time
// (10.1.2.3, 10.1.2, 10.1, 10; IPv6:2001:db8:0:…:1, …, IPv6:2001, IPv6).
func (c *Checker) Addr(tag, addr string, tagOnly bool) (Result, error) {
	item := join(tokenize(addr))
	for item != "" {
		r, ok, err := c.pair(tag, item, tagOnly)
		if err != nil {
			return Result{}, err
		}
		if ok {
			if c.skipped(r) {
				return Result{}, nil
			}
			return r, nil
		}
		toks := tokenize(item)
		n := len(toks)
		switch {
		case n >= 4 && toks[n-2].isOp(':') && toks[n-3].isOp(':'):
			item = join(toks[:n-3])
		case n >= 3 && (toks[n-2].isOp(':') || toks[n-2].isOp('.')):
			item = join(toks[:n-2])
		default:
			item = ""
		}
	}
	return Result{}, nil
}

// Exact is ruleset E (LookUpExact): item with the tag, then (unless
// tagOnly, and only for a non-empty item) without it. An empty item
// looks up the bare "Tag:" default entry.
func (c *Checker) Exact(tag, item string, tagOnly bool) (Result, error) {
	r, _, err := c.pair(tag, join(tokenize(item)), tagOnly)
	return r, err
}

// Full is ruleset F (full address): user+ext@domain, then user+*@domain,
// then user@domain, each with and (unless tagOnly) without the tag.
func (c *Checker) Full(tag, addr string, tagOnly bool) (Result, error) {
	toks := tokenize(addr)
	r, ok, err := c.pair(tag, join(toks), tagOnly)
	if ok || err != nil {
		return r, err
	}
	p := firstOp(toks, '+', 1)
	if p < 0 {
		return Result{}, nil
	}
	a := firstOp(toks[p+1:], '@', 0)
	if a < 0 || p+1+a == len(toks)-1 {
		return Result{}, nil
	}
	a += p + 1
	user, domain := join(toks[:p]), join(toks[a+1:])
	for _, k := range []string{user + "+*@" + domain, user + "@" + domain} {
		if r, ok, err := c.pair(tag, k, tagOnly); ok || err != nil {
			return r, err
		}
	}
	return Result{}, nil
}

// User is ruleset U (local part): its argument ends in "@" (user+ext@),
// and it tries user+ext@, user+*@, user@.
func (c *Checker) User(tag, local string, tagOnly bool) (Result, error) {
	if !strings.HasSuffix(local, "@") {
		local += "@"
	}
	toks := tokenize(local)
	r, ok, err := c.pair(tag, join(toks), tagOnly)
	if ok || err != nil {
		return r, err
	}
	p := firstOp(toks, '+', 1)
	if p < 0 {
		return Result{}, nil
	}
	user := join(toks[:p])
	for _, k := range []string{user + "+*@", user + "@"} {
		if r, ok, err := c.pair(tag, k, tagOnly); ok || err != nil {
			return r, err
		}
	}
	return Result{}, nil
}

// firstOp returns the index of the first operator c at or after min, or -1.
func firstOp(toks []token, c byte, min int) int {
	for i := min; i < len(toks); i++ {
		if toks[i].isOp(c) {
			return i
		}
	}
	return -1
}
