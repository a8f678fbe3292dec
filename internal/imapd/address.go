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
	p := &addrParser{s: v}
	var out []imap.Address
	for {
		p.skipCFWS()
		if p.eof() {
			return out
		}
		if p.peek() == ',' {
			p.i++
			continue
		}
		phrase := p.phrase()
		p.skipCFWS()
		switch {
		case !p.eof() && p.peek() == ':':
			// group
			p.i++
			out = append(out, imap.Address{Mailbox: phrase})
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
				if a, ok := p.mailbox(p.phrase()); ok {
					out = append(out, a)
				} else {
					p.skipTo(",;")
				}
			}
			out = append(out, imap.Address{})
		default:
			if a, ok := p.mailbox(phrase); ok {
				out = append(out, a)
			} else {
				p.skipTo(",")
			}
		}
	}
}

type addrParser struct {
	s string
	i int
}

func (p *addrParser) eof() bool  { return p.i >= len(p.s) }
func (p *addrParser) peek() byte { return p.s[p.i] }

func (p *addrParser) skipCFWS() {
	for !p.eof() {
		switch c := p.peek(); {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.i++
		case c == '(':
			depth := 0
			for !p.eof() {
				c := p.peek()
				p.i++
				if c == '\\' {
					p.i++
				} else if c == '(' {
					depth++
				} else if c == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
		default:
			return
		}
	}
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
// either "<addr-spec>" (phrase = display name) or "@domain" (phrase =
// local part).
func (p *addrParser) mailbox(phrase string) (imap.Address, bool) {
	p.skipCFWS()
	if !p.eof() && p.peek() == '<' {
		p.i++
		end := strings.IndexByte(p.s[p.i:], '>')
		if end < 0 {
			return imap.Address{}, false
		}
		spec := p.s[p.i : p.i+end]
		p.i += end + 1
		if i := strings.LastIndexByte(spec, ':'); i >= 0 {
			spec = spec[i+1:] // drop a source route
		}
		local, host, _ := strings.Cut(strings.TrimSpace(spec), "@")
		return imap.Address{Name: phrase, Mailbox: strings.Trim(local, `"`), Host: host}, true
	}
	if !p.eof() && p.peek() == '@' {
		p.i++
		start := p.i
		p.skipTo(",;( \t\r\n")
		return imap.Address{Mailbox: strings.ReplaceAll(phrase, " ", ""), Host: p.s[start:p.i]}, true
	}
	if phrase != "" {
		// A bare local part: Dovecot shows it without a host.
		return imap.Address{Mailbox: phrase}, true
	}
	return imap.Address{}, false
}
