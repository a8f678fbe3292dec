// SPDX-License-Identifier: MIT

package aliases

import (
	"fmt"
	"strings"
)

// VirtError is the error: right-hand side of a virtusertable entry, as
// the stock ruleset 0 turns it into the error mailer: either
// "error:D.D.D:text" (Status set, Text usually starting with a reply
// code) or "error:word text" (Code is the word, e.g. "nouser", an
// sysexits name or number, and Text the rest).
type VirtError struct {
	Status string // enhanced status code, "5.7.0"
	Code   string // exit-code word, "nouser"
	Text   string
}

func (e *VirtError) Error() string {
	if e.Status != "" {
		return e.Status + " " + e.Text
	}
	return e.Code + " " + e.Text
}

// VirtResult is the outcome of a virtusertable lookup.
type VirtResult struct {
	Found bool
	Key   string // the key that matched
	// Addr is the right-hand side with %0-%9 substituted, when it is
	// not an error.
	Addr string
	Err  *VirtError
}

// VirtLookup resolves user@domain through the virtusertable as
// Sendmail's stock rules do for a domain of class w or {VirtHost}:
// "user@domain" first, then for a local part user+detail the keys
// "user++@domain" (detail not empty), "user+*@domain", "user@domain",
// "++@domain" (detail not empty), "+*@domain" and "@domain"; for a
// local part without "+", "@domain". In the right-hand side %1 is the
// user (the whole local part for the first key), %2 the detail, %3
// "+detail", %0 the key. lookup gets the keys as built (the map folds
// case itself).
func VirtLookup(lookup func(key string) (string, bool, error), local, domain string) (VirtResult, error) {
	domain = strings.TrimSuffix(domain, ".")
	try := func(key string, args ...string) (VirtResult, bool, error) {
		v, ok, err := lookup(key)
		if err != nil || !ok {
			return VirtResult{}, false, err
		}
		r := VirtResult{Found: true, Key: key}
		v = virtSubst(v, key, args)
		if e := parseVirtError(v); e != nil {
			r.Err = e
		} else {
			r.Addr = strings.TrimSpace(v)
		}
		return r, true, nil
	}
	if r, ok, err := try(local+"@"+domain, local); ok || err != nil {
		return r, err
	}
	user, detail, plus := strings.Cut(local, "+")
	if plus && user != "" {
		args := []string{user, detail, "+" + detail}
		keys := []string{}
		if detail != "" {
			keys = append(keys, user+"++@"+domain)
		}
		keys = append(keys, user+"+*@"+domain, user+"@"+domain)
		if detail != "" {
			keys = append(keys, "++@"+domain)
		}
		keys = append(keys, "+*@"+domain, "@"+domain)
		for _, k := range keys {
			if r, ok, err := try(k, args...); ok || err != nil {
				return r, err
			}
		}
		return VirtResult{}, nil
	}
	r, _, err := try("@"+domain, local)
	return r, err
}

// virtSubst replaces %0 (the key) and %1-%9 (args; missing ones are
// empty) and %% in a map value, as sendmail's map_rewrite does.
func virtSubst(v, key string, args []string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '%' || i+1 >= len(v) {
			b.WriteByte(c)
			continue
		}
		n := v[i+1]
		switch {
		case n == '%':
			b.WriteByte('%')
			i++
		case n == '0':
			b.WriteString(key)
			i++
		case n >= '1' && n <= '9':
			if k := int(n - '1'); k < len(args) {
				b.WriteString(args[k])
			}
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// parseVirtError parses an "error:" right-hand side; nil if v is not one.
func parseVirtError(v string) *VirtError {
	v = strings.TrimSpace(v)
	if len(v) < 6 || !strings.EqualFold(v[:6], "error:") {
		return nil
	}
	rest := strings.TrimLeft(v[6:], " \t")
	// error:D.D.D:text
	if st, text, ok := strings.Cut(rest, ":"); ok && isStatus(strings.TrimSpace(st)) {
		return &VirtError{Status: strings.TrimSpace(st), Text: strings.TrimSpace(text)}
	}
	word, text, _ := strings.Cut(rest, " ")
	return &VirtError{Code: strings.Trim(word, "\""), Text: strings.TrimSpace(text)}
}

// isStatus reports a D.D.D enhanced status code.
func isStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// Reply is the SMTP reply line Sendmail gives at RCPT for a recipient
// rcpt (without angle brackets) refused by this virtusertable error, as
// the real sendmail -bs answers: "error:5.7.0:550 text" gives
// "550 5.7.0 <rcpt>... text", "error:nouser text" "553 5.3.0 <rcpt>... text".
func (e *VirtError) Reply(rcpt string) string {
	text := e.Text
	code, status := "550", e.Status
	if len(text) >= 4 && text[3] == ' ' && strings.Trim(text[:3], "0123456789") == "" {
		code, text = text[:3], text[4:]
	}
	if status == "" {
		// "error:nouser User unknown": the real sendmail 8.17 answers
		// RCPT with "553 5.3.0 <x>... User unknown" (the stock rule
		// passes the word as the error mailer's host, not a status).
		code, status = "553", "5.3.0"
	}
	return fmt.Sprintf("%s %s <%s>... %s", code, status, rcpt, text)
}

// VirtUserError is a recipient refused by a virtusertable error: entry.
type VirtUserError struct {
	Addr string // the recipient as given
	Err  *VirtError
}

func (e *VirtUserError) Error() string {
	text := e.Err.Text
	if len(text) >= 4 && text[3] == ' ' && strings.Trim(text[:3], "0123456789") == "" {
		text = text[4:]
	}
	return e.Addr + "... " + text
}

// Reply is Sendmail's SMTP reply for the refused recipient.
func (e *VirtUserError) Reply() string { return e.Err.Reply(e.Addr) }

// Unwrap makes an error:nouser entry an ErrUserUnknown.
func (e *VirtUserError) Unwrap() error {
	if c := strings.ToLower(e.Err.Code); c == "nouser" || c == "67" || e.Err.Status == "5.1.1" {
		return ErrUserUnknown
	}
	return nil
}

// virtuser resolves local@dom through the virtusertable when the domain
// qualifies; it reports whether the address was handled.
func (s *expansion) virtuser(local, dom, via, owner string, chain []string, depth int, ctl *Ctl) bool {
	x := s.x
	if x.Virtuser == nil || local == "" || !(x.IsLocal != nil && x.IsLocal(dom) || x.IsVirtHost != nil && x.IsVirtHost(dom)) {
		return false
	}
	r, err := VirtLookup(x.Virtuser, local, dom)
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("virtuser %s@%s: %w", local, dom, err))
		return true
	}
	if !r.Found {
		return false
	}
	if r.Err != nil {
		s.errs = append(s.errs, &VirtUserError{Addr: local + "@" + dom, Err: r.Err})
		return true
	}
	s.aliased = true
	s.expand(r.Addr, via, owner, chain, depth+1, ctl)
	return true
}
