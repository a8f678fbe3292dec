// SPDX-License-Identifier: MIT

package smtpd

import (
	"strings"
)

// maxAddrLen is sendmail's MAXNAME: longer addresses are refused.
const maxAddrLen = 256

// Address is an envelope address as sendmail's prescan and ruleset
// Parse0 leave it: an optional source route, the local part as written
// (quotes kept) and the domain without its trailing dot.
type Address struct {
	// Echo is the address as the client wrote it, brackets included when
	// it used them: sendmail echoes this text in its replies.
	Echo string
	// Null is the null reverse-path <>.
	Null bool
	// Route holds the hops of a source route ("@a,@b:") without "@".
	Route []string
	// Local is the local part as written; Domain is empty for an
	// unqualified address.
	Local, Domain string
}

// addrError is a refusal of an address's syntax: a reply of the table,
// which takes the echoed address as its first argument.
type addrError struct {
	r   reply
	arg []any
}

// splitPathArg splits the text after "FROM:" or "TO:" into the address
// as written (echo), its contents and the ESMTP parameters, as
// sendmail's parseaddr does with a blank as delimiter: a "<...>" form
// runs to its matching ">" (quotes and backslashes respected); a bare
// form runs to the first blank.
func splitPathArg(s string) (echo, inner, params string, aerr *addrError) {
	s = strings.TrimLeft(s, " \t")
	if s == "" {
		return "", "", "", nil
	}
	if s[0] != '<' {
		end := scanBare(s)
		echo = s[:end]
		return echo, echo, strings.TrimLeft(s[end:], " \t"), nil
	}
	depth, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '<':
			depth++
		case c == '>':
			depth--
			if depth == 0 {
				echo = s[:i+1]
				inner = s[1:i]
				if strings.Contains(inner, "<") {
					// Nested brackets: sendmail uses the innermost
					// pair, as in "<<a@b>>".
					inner = strings.Trim(inner, "<>")
				}
				rest := s[i+1:]
				if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
					return s, "", "", &addrError{rInvalidAddr, []any{s}}
				}
				return echo, inner, strings.TrimLeft(rest, " \t"), nil
			}
		}
	}
	if inQuote {
		return s, "", "", &addrError{rUnbalanced, []any{s, '"'}}
	}
	return s, "", "", &addrError{rUnbalanced, []any{s, '<'}}
}

// scanBare returns the end of a bare (unbracketed) address: the first
// blank outside quotes.
func scanBare(s string) int {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == ' ' || c == '\t'):
			return i
		}
	}
	return len(s)
}

// parseAddress reads the contents of an envelope path the way sendmail's
// prescan and ruleset Parse0 (proto.m4) judge it. echo is the address as
// written, used in the refusal texts.
func parseAddress(echo, inner string) (Address, *addrError) {
	a := Address{Echo: echo}
	if len(inner) > maxAddrLen {
		if longestToken(inner) >= maxAddrLen {
			return a, &addrError{rTokenTooLong, []any{shorten(echo)}}
		}
		return a, &addrError{rAddrTooLong, []any{shorten(echo)}}
	}
	// Comments go, quotes must balance.
	var b strings.Builder
	inQuote, depth := false, 0
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		switch {
		case c == '\\' && i+1 < len(inner):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(inner[i+1])
			}
			i++
			continue
		case inQuote:
			if c == '"' {
				inQuote = false
			}
		case c == '"' && depth == 0:
			inQuote = true
		case c == '(':
			depth++
			continue
		case c == ')':
			if depth == 0 {
				return a, &addrError{rUnbalanced, []any{echo, ')'}}
			}
			depth--
			continue
		case c == '<' || c == '>':
			return a, &addrError{rUnbalanced, []any{echo, c}}
		}
		if depth == 0 {
			if c < ' ' && c != '\t' || c == 0x7f {
				return a, &addrError{rIllegalChar, []any{echo}}
			}
			b.WriteByte(c)
		}
	}
	if inQuote {
		return a, &addrError{rUnbalanced, []any{echo, '"'}}
	}
	if depth > 0 {
		return a, &addrError{rUnbalanced, []any{echo, '('}}
	}
	s := strings.TrimSpace(b.String())
	if s == "" {
		a.Null = true
		return a, nil
	}
	if s == "@" {
		return a, &addrError{rListSyntax, []any{echo}}
	}
	if strings.HasSuffix(s, ";") && indexUnquoted(s, ':') >= 0 && indexUnquoted(s, ',') < 0 && indexUnquoted(s, '@') < 0 {
		return a, &addrError{rListSyntax, []any{echo}}
	}
	// A source route: @a,@b:user@d.
	if s[0] == '@' {
		colon := indexUnquoted(s, ':')
		if colon < 0 {
			if strings.Count(s, "@") > 1 {
				return a, &addrError{rInvalidRoute, []any{echo}}
			}
			return a, &addrError{rUserRequired, []any{echo}}
		}
		for _, hop := range strings.Split(s[:colon], ",") {
			hop = strings.TrimSpace(hop)
			if !strings.HasPrefix(hop, "@") || len(hop) == 1 {
				return a, &addrError{rInvalidRoute, []any{echo}}
			}
			a.Route = append(a.Route, hop[1:])
		}
		s = s[colon+1:]
		if s == "" {
			return a, &addrError{rUserRequired, []any{echo}}
		}
	}
	at := lastUnquoted(s, '@')
	if at < 0 {
		a.Local = s
		if indexUnquoted(s, ',') >= 0 {
			return a, &addrError{rInvalidRoute, []any{echo}}
		}
		return a, nil
	}
	a.Local, a.Domain = strings.TrimSpace(s[:at]), strings.TrimSpace(s[at+1:])
	if a.Domain == "" {
		if a.Local == "" || strings.HasSuffix(a.Local, "@") {
			return a, &addrError{rInvalidRoute, []any{echo}}
		}
		return a, &addrError{rHostRequired, []any{echo}}
	}
	if a.Local == "" {
		return a, &addrError{rUserRequired, []any{echo}}
	}
	if indexUnquoted(a.Local, '@') >= 0 {
		return a, &addrError{rInvalidRoute, []any{echo}}
	}
	d := a.Domain
	if strings.HasPrefix(d, "[") {
		if !strings.HasSuffix(strings.TrimSuffix(d, "."), "]") || strings.Count(d, "[") != 1 {
			return a, &addrError{rInvalidAddr, []any{echo}}
		}
	} else {
		if strings.ContainsAny(d, "[]") {
			return a, &addrError{rInvalidAddr, []any{echo}}
		}
		if strings.HasPrefix(d, ".") || strings.Contains(d, "..") {
			return a, &addrError{rInvalidHost, []any{echo}}
		}
		if strings.ContainsAny(d, ",") {
			return a, &addrError{rInvalidRoute, []any{echo}}
		}
		if strings.ContainsAny(d, ":") {
			return a, &addrError{rColonIllegal, []any{echo}}
		}
	}
	a.Domain = strings.TrimSuffix(d, ".")
	if a.Domain == "" {
		return a, &addrError{rInvalidHost, []any{echo}}
	}
	return a, nil
}

// shorten is sendmail's shortenstring for its MAXSHORTSTR (203): long
// texts keep their first and last 100 bytes around "...".
func shorten(s string) string {
	const max = 203
	if len(s) <= max {
		return s
	}
	half := (max - 3) / 2
	return s[:half] + "..." + s[len(s)-half:]
}

// longestToken is the length of the longest run of characters prescan
// would make one token (an atom or a quoted string).
func longestToken(s string) int {
	longest, cur := 0, 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQuote = !inQuote
			cur++
		case !inQuote && strings.IndexByte("()<>,;:@[]. \t", c) >= 0:
			cur = 0
		default:
			cur++
		}
		longest = max(longest, cur)
	}
	return longest
}

// indexUnquoted returns the index of the first c outside quotes and
// address literals, or -1.
func indexUnquoted(s string, c byte) int {
	inQuote, inLit := false, false
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '\\':
			i++
		case ch == '"':
			inQuote = !inQuote
		case inQuote:
		case ch == '[':
			inLit = true
		case ch == ']':
			inLit = false
		case !inLit && ch == c:
			return i
		}
	}
	return -1
}

// lastUnquoted returns the index of the last c outside quotes and
// address literals, or -1.
func lastUnquoted(s string, c byte) int {
	last := -1
	for off := 0; off < len(s); {
		i := indexUnquoted(s[off:], c)
		if i < 0 {
			break
		}
		last = off + i
		off += i + 1
	}
	return last
}

// dequote removes the quotes and backslash escapes of a local part, as
// the dequote map of ParseRecipient does.
func dequote(s string) string {
	if !strings.ContainsAny(s, "\"\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			b.WriteByte(s[i])
			continue
		}
		if c == '"' {
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// finalHop resolves the local part of a recipient the way the relay
// test's ParseRecipient does: as long as the domain is one we accept
// mail for (ours reports that) or there is none, a "@", "%" or "!" left
// in the (dequoted) local part names the next hop: "user@host" (a quoted
// local part), the rightmost "user%host" and the leftmost "host!user".
// The source route was already dropped. The result is what the relaying
// decision and the local delivery look at, so none of these forms can
// smuggle a foreign destination past the relay check.
func finalHop(local, domain string, ours func(string) bool) (string, string) {
	for range 32 {
		if domain != "" && !ours(domain) {
			break
		}
		dq := dequote(local)
		if strings.Contains(local, "\\") && !strings.Contains(local, "\"") {
			// A backslash-escaped "@", "%" or "!" stays part of the
			// user name: sendmail delivers "b\@x" to the user "b@x".
			break
		}
		if i := strings.LastIndexByte(dq, '@'); i >= 0 && dq != local {
			local, domain = dq[:i], strings.TrimSuffix(dq[i+1:], ".")
			continue
		}
		if i := strings.LastIndexByte(dq, '%'); i >= 0 {
			local, domain = dq[:i], strings.TrimSuffix(dq[i+1:], ".")
			continue
		}
		if i := strings.IndexByte(dq, '!'); i >= 0 {
			local, domain = dq[i+1:], strings.TrimSuffix(dq[:i], ".")
			continue
		}
		if i := strings.LastIndexByte(dq, '@'); i >= 0 {
			local, domain = dq[:i], strings.TrimSuffix(dq[i+1:], ".")
			continue
		}
		break
	}
	return local, domain
}
