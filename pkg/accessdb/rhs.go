// SPDX-License-Identifier: MIT

package accessdb

import (
	"strconv"
	"strings"
)

// Kind is what Sendmail's rulesets make of an access-map value.
type Kind int

// The kinds of right-hand side. Keywords are single tokens compared
// without regard to case, so "reject" and "REJECT   " are Reject, while
// "OK # comment" or "TEMPFAIL" are not keywords but Text.
const (
	// None is the zero Kind: no value (the RHS of a Result that found
	// nothing). ParseRHS never returns it.
	None Kind = iota
	// Text is anything that is not a keyword: Sendmail uses it as an
	// error text ("generic error from access db").
	Text
	// OK accepts (Connect:, From:) without granting relaying.
	OK
	// Relay accepts and, for Connect: and To:, allows relaying.
	Relay
	// Reject refuses with the check's standard text.
	Reject
	// Discard accepts and silently drops the message.
	Discard
	// Skip ends a domain or address walk with "not found" when the map
	// was declared by FEATURE(access_db,,skip); elsewhere it is Text.
	Skip
	// Quarantine accepts and quarantines the message; RHS.Text is the
	// reason.
	Quarantine
	// Error refuses with RHS.Text (ERROR:text or ERROR:d.s.n:text).
	Error
	// Friend and Hater are the values of Spam: entries.
	Friend
	Hater
	// TempFail is a value ending in <TMPF>: what a map declared with
	// -T<TMPF> returns when the lookup failed temporarily.
	TempFail
	// Empty is a value with no tokens (makemap -e stores such values).
	// It stops a walk like a hit but no ruleset acts on it.
	Empty
)

var kindNames = [...]string{"None", "Text", "OK", "RELAY", "REJECT", "DISCARD", "SKIP", "QUARANTINE", "ERROR", "FRIEND", "HATER", "TEMPFAIL", "Empty"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// RHS is a parsed access-map value.
type RHS struct {
	Kind Kind
	// Value is the value as stored in the map.
	Value string
	// DSN is the d.s.n of an ERROR:d.s.n:text value, else empty.
	DSN string
	// Text is the error text of Error and Text values and the reason of
	// Quarantine values, re-joined from tokens as Sendmail does: blanks
	// collapse, and there is a blank only between two words
	// ("ERROR:550  a   b" gives "550 a b"). Quotes are still present.
	Text string
}

// ParseRHS reads an access-map value the way the access rulesets of
// Sendmail 8.17's proto.m4 match it.
func ParseRHS(value string) RHS {
	r := RHS{Value: value}
	toks := tokenize(value)
	n := len(toks)
	switch {
	case n == 0:
		r.Kind = Empty
		return r
	case n >= 3 && toks[n-3].isOp('<') && toks[n-2].atom && strings.EqualFold(toks[n-2].text, "TMPF") && toks[n-1].isOp('>'):
		r.Kind = TempFail
		return r
	}
	for _, kw := range []struct {
		word string
		kind Kind
	}{{"OK", OK}, {"RELAY", Relay}, {"REJECT", Reject}, {"DISCARD", Discard}, {"SKIP", Skip}, {"FRIEND", Friend}, {"HATER", Hater}} {
		if is(toks, kw.word) {
			r.Kind = kw.kind
			return r
		}
	}
	if n >= 3 && toks[0].atom && toks[1].isOp(':') {
		switch {
		case strings.EqualFold(toks[0].text, "QUARANTINE"):
			r.Kind = Quarantine
			r.Text = join(toks[2:])
			return r
		case strings.EqualFold(toks[0].text, "ERROR"):
			r.Kind = Error
			// ERROR:$-.$-.$-:$+ — three single tokens, then text.
			if n >= 9 && toks[3].isOp('.') && toks[5].isOp('.') && toks[7].isOp(':') {
				r.DSN = join(toks[2:7])
				r.Text = join(toks[8:])
			} else {
				r.Text = join(toks[2:])
			}
			return r
		}
	}
	r.Kind = Text
	r.Text = join(toks)
	return r
}

// Number returns the value as a decimal number, for GreetPause:,
// ClientRate: and ClientConn: entries.
func (r RHS) Number() (int, bool) {
	toks := tokenize(r.Value)
	if len(toks) != 1 || !toks[0].atom {
		return 0, false
	}
	n, err := strconv.Atoi(toks[0].text)
	if err != nil || n < 0 || strings.HasPrefix(toks[0].text, "+") {
		return 0, false
	}
	return n, true
}

// cutText is the text Sendmail keeps in rules of the form
// R<ERROR:$+> $* (check_mail, blocklist_recipients): the minimal $+
// ends at the first ">", so "ERROR:550 a <b> c" yields "550 a<b".
func cutText(text string) string {
	toks := tokenize(text)
	for i, t := range toks {
		if t.isOp('>') && i > 0 {
			return join(toks[:i])
		}
	}
	return text
}
