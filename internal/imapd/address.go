// SPDX-License-Identifier: MIT

package imapd

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// parseAddresses reads an address-list header value the way Dovecot's
// ENVELOPE shows it: display names as written (encoded words are not
// decoded, quotes and comments removed), groups as a (NIL NIL "name"
// NIL) start and a (NIL NIL NIL NIL) end (RFC 3501 §7.4.2).
func parseAddresses(v string) []imap.Address {
	l, _ := parseAddressList(v)
	return l
}

// parseAddressList is parseAddresses that also returns each address's
// source route ("@relay.example:" without the colon, or ""), which
// go-imap's Address cannot hold but SEARCH matches against.
func parseAddressList(v string) ([]imap.Address, []string) {
	p := &addrParser{s: v}
	var out []imap.Address
	var routes []string
	add := func(a imap.Address) {
		out = append(out, a)
		routes = append(routes, p.route)
		p.route = ""
	}
	for {
		p.skipCFWS()
		if p.eof() {
			return out, routes
		}
		if p.peek() == ',' {
			p.i++
			continue
		}
		p.comment = ""
		phrase := p.phrase()
		p.skipCFWS()
		switch {
		case !p.eof() && p.peek() == ':':
			// group
			p.i++
			add(imap.Address{Mailbox: phrase})
			for {
				p.skipCFWS()
				if p.eof() {
					break
				}
				if p.peek() == ';' {
					p.i++
					break
				}
				if p.peek() == ',' {
					p.i++
					continue
				}
				p.comment = ""
				if a, ok := p.mailbox(p.phrase()); ok {
					add(a)
				} else {
					p.route = ""
					p.skipTo(",;")
				}
			}
			add(imap.Address{})
		default:
			if a, ok := p.mailbox(phrase); ok {
				add(a)
			} else {
				p.route = ""
				p.skipTo(",")
			}
		}
	}
}

type addrParser struct {
	s string
	i int
	// comment is the text of the last comment skipped (escapes undone,
	// folding removed): Dovecot names an addr-spec without a display
	// name after its last comment, "user@domain (Real Name)".
	comment string
	// route is the source route of the angle address just read.
	route string
}

func (p *addrParser) eof() bool  { return p.i >= len(p.s) }
func (p *addrParser) peek() byte { return p.s[p.i] }

func (p *addrParser) skipCFWS() {
	for !p.eof() {
		switch c := p.peek(); {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.i++
		case c == '(':
			p.comment = p.skipComment()
		default:
			return
		}
	}
}

// skipComment reads a comment (nested ones included) and returns its text
// without the outer parentheses, quoted-pairs undone and line folding
// removed.
func (p *addrParser) skipComment() string {
	var b strings.Builder
	depth := 0
	for !p.eof() {
		c := p.peek()
		p.i++
		switch c {
		case '\\':
			if !p.eof() && p.peek() != '\r' && p.peek() != '\n' {
				b.WriteByte(p.peek())
				p.i++
			}
			continue
		case '(':
			depth++
			if depth == 1 {
				continue
			}
		case ')':
			depth--
			if depth == 0 {
				return b.String()
			}
		case '\r', '\n':
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (p *addrParser) skipTo(set string) {
	for !p.eof() && !strings.ContainsRune(set, rune(p.peek())) {
		p.i++
	}
}

// phrase reads words (atoms with dots, quoted strings) up to '<', ':',
// ',', ';' or '@' and joins them with single spaces.
func (p *addrParser) phrase() string {
	var words []string
	for {
		p.skipCFWS()
		if p.eof() {
			break
		}
		c := p.peek()
		if c == '"' {
			p.i++
			var b strings.Builder
			for !p.eof() && p.peek() != '"' {
				if p.peek() == '\\' && p.i+1 < len(p.s) {
					p.i++
				}
				if ch := p.peek(); ch != '\r' && ch != '\n' {
					b.WriteByte(ch)
				}
				p.i++
			}
			p.i++
			words = append(words, b.String())
			continue
		}
		if strings.IndexByte("<>:,;@()", c) >= 0 {
			break
		}
		start := p.i
		for !p.eof() && strings.IndexByte("<>:,;@()\" \t\r\n", p.peek()) < 0 {
			p.i++
		}
		words = append(words, p.s[start:p.i])
	}
	return strings.Join(words, " ")
}

// mailbox reads the rest of a mailbox whose leading phrase was read:
// either "<addr-spec>" (phrase = display name; comments inside the angle
// brackets are dropped) or "@domain" (phrase = local part), or nothing
// (a bare local part). The last two take their display name from the
// last comment, as Dovecot does.
func (p *addrParser) mailbox(phrase string) (imap.Address, bool) {
	p.skipCFWS()
	if !p.eof() && p.peek() == '<' {
		p.i++
		end := strings.IndexByte(p.s[p.i:], '>')
		if end < 0 {
			return imap.Address{}, false
		}
		spec := stripCFWS(p.s[p.i : p.i+end])
		p.i += end + 1
		if strings.HasPrefix(spec, "@") {
			if i := strings.IndexByte(spec, ':'); i >= 0 {
				// go-imap has no ADL: the route is kept aside.
				p.route, spec = spec[:i], spec[i+1:]
			}
		}
		local, host := spec, ""
		if i := strings.LastIndexByte(spec, '@'); i >= 0 {
			local, host = spec[:i], spec[i+1:]
		}
		return imap.Address{Name: phrase, Mailbox: strings.Trim(local, `"`), Host: host}, true
	}
	if !p.eof() && p.peek() == '@' {
		p.i++
		p.skipCFWS()
		start := p.i
		p.skipTo(",;( \t\r\n")
		a := imap.Address{Mailbox: strings.ReplaceAll(phrase, " ", ""), Host: p.s[start:p.i]}
		p.skipCFWS()
		a.Name = p.comment
		return a, true
	}
	if phrase != "" {
		// A bare local part: Dovecot shows it without a host.
		return imap.Address{Name: p.comment, Mailbox: phrase}, true
	}
	return imap.Address{}, false
}

// stripCFWS drops comments and white space outside quoted strings, which
// is what an angle address means without them.
func stripCFWS(s string) string {
	var b strings.Builder
	p := &addrParser{s: s}
	for !p.eof() {
		switch c := p.peek(); {
		case c == '"':
			start := p.i
			p.i++
			for !p.eof() && p.peek() != '"' {
				if p.peek() == '\\' {
					p.i++
				}
				p.i++
			}
			p.i = min(p.i+1, len(s))
			b.WriteString(s[start:p.i])
		case c == '(' || c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.skipCFWS()
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return b.String()
}
