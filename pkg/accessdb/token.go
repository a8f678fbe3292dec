// SPDX-License-Identifier: MIT

package accessdb

import "strings"

// Sendmail's rule engine sees keys and map values as token lists, not
// strings: prescan splits them at blanks and at operator characters, and
// cataddr joins tokens back with a blank only between two atoms. The walk
// rules of the access rulesets (drop a label, drop an octet, split at the
// first "+") and the keyword tests on the value are token matches, so this
// file models just enough of prescan to reproduce them.

// operators are the characters that form one-character tokens: Debian's
// sendmail.cf operator class ($o = ".:%@!^/[]+") plus the characters
// prescan always treats as delimiters.
const operators = ".:%@!^/[]+<>(),;"

// token is one lexical unit of a key or value.
type token struct {
	text string
	atom bool // an atom (word or quoted string), not an operator
}

// tokenize splits s the way prescan does for rule workspaces: blanks
// separate tokens and vanish, each operator character is a token of its
// own, a double-quoted string (with backslash escapes) is one atom, and
// everything else runs together into atoms.
func tokenize(s string) []token {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				j++
			}
			if j < len(s) {
				j++ // closing quote
			}
			toks = append(toks, token{text: s[i:j], atom: true})
			i = j
		case strings.IndexByte(operators, c) >= 0:
			toks = append(toks, token{text: s[i : i+1]})
			i++
		default:
			j := i
			for j < len(s) {
				d := s[j]
				if d == '\\' && j+1 < len(s) {
					j += 2 // a backslash quotes the next character
					continue
				}
				if d == ' ' || d == '\t' || d == '\n' || d == '\r' || d == '"' || strings.IndexByte(operators, d) >= 0 {
					break
				}
				j++
			}
			toks = append(toks, token{text: s[i:j], atom: true})
			i = j
		}
	}
	return toks
}

// join is cataddr: tokens concatenated with one blank between two
// adjacent atoms and none around operators.
func join(toks []token) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && t.atom && toks[i-1].atom {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// isOp reports whether t is the operator c.
func (t token) isOp(c byte) bool { return !t.atom && len(t.text) == 1 && t.text[0] == c }

// is reports whether toks is exactly the one atom word, ignoring case as
// rule matching does.
func is(toks []token, word string) bool {
	return len(toks) == 1 && toks[0].atom && strings.EqualFold(toks[0].text, word)
}

// stripQuotes drops double quotes and turns backslash-escaped characters
// into themselves, as sendmail's stripquotes does before an error text is
// printed.
func stripQuotes(s string) string {
	if !strings.ContainsAny(s, "\"\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
