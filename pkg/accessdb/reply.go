// SPDX-License-Identifier: MIT

package accessdb

import "strings"

// Check names the ruleset that acts on a lookup result: the same value
// gives different replies in each.
type Check int

const (
	// CheckRelay is check_relay (Connect: entries).
	CheckRelay Check = iota
	// CheckMail is check_mail (From: entries).
	CheckMail
	// CheckRcpt is the blocklist_recipients part of check_rcpt (To:
	// entries).
	CheckRcpt
)

// Reply texts of the access rulesets (proto.m4, Sendmail 8.17).
const (
	// RejectText is REJECT in check_relay and check_mail ($@ 5.7.1).
	RejectText = "550 Access denied"
	// RcptRejectText is REJECT for a blocklisted recipient ($@ 5.2.1,
	// confRCPTREJ_MSG).
	RcptRejectText = "550 Mailbox disabled for this recipient"
	// TempFailText is _TMPFMSG_, the reply to a <TMPF> result ($@ 4.3.0).
	TempFailText = "451 Temporary system failure. Please try again later."
)

// maxShortStr is MAXSHORTSTR, the longest address sendmail prints in
// the "<addr>... " prefix before shortening it.
const maxShortStr = 203

// Reply returns the SMTP reply Sendmail gives for r in the given check,
// with to (the address current at that point, as the client wrote it,
// e.g. "<user@example.com>") inserted where Sendmail inserts it. ok is
// false when the value does not refuse anything: OK, RELAY, DISCARD,
// QUARANTINE (all answered 250), an empty value, no value at all (None:
// nothing was found) and SKIP in CheckRcpt with the skip feature.
func (c *Checker) Reply(check Check, r RHS, to string) (reply string, ok bool) {
	switch r.Kind {
	case None, OK, Relay, Discard, Quarantine, Empty:
		return "", false
	case TempFail:
		return ErrorReply("4.3.0", TempFailText, to), true
	case Reject:
		if check == CheckRcpt {
			return ErrorReply("5.2.1", RcptRejectText, to), true
		}
		if c.RejectMsg != "" {
			return ErrorReply("", c.RejectMsg, to), true
		}
		return ErrorReply("5.7.1", RejectText, to), true
	case Skip:
		if check == CheckRcpt && c.Skip {
			return "", false
		}
	case Error:
		text := r.Text
		if check != CheckRelay {
			text = cutText(text)
		}
		return ErrorReply(r.DSN, text, to), true
	}
	// Text, and keywords the check has no rule for: "generic error from
	// access db", the whole value as the text.
	text := join(tokenize(r.Value))
	if check != CheckRelay {
		text = cutText(text)
	}
	return ErrorReply("", text, to), true
}

// ErrorReply formats an error the way Sendmail's error mailer does
// ($#error $@ dsn $: text): text loses its quotes; if it starts with a
// three-digit code and a blank, that is the reply code, and an enhanced
// status code right after it wins over dsn; without any, the class digit
// of the code gives "X.0.0". A text without a code is reported as
// "553 5.3.0 text". The "to... " prefix is inserted only for the codes
// 050, 250, 252, 450, 550 and 553, as err.c does.
func ErrorReply(dsn, text, to string) string {
	u := stripQuotes(text)
	code, enh, msg := "553", "5.3.0", u
	if len(u) >= 4 && isDigit(u[0]) && isDigit(u[1]) && isDigit(u[2]) && u[3] == ' ' {
		code, msg = u[:3], u[4:]
		switch {
		case enhLen(msg, ' ') > 0:
			n := enhLen(msg, ' ')
			enh, msg = msg[:n], msg[n+1:]
		case enhLen(dsn, 0) > 0:
			enh = dsn
		case strings.IndexByte("245", code[0]) >= 0:
			enh = code[:1] + ".0.0"
		default:
			enh = ""
		}
	}
	var b strings.Builder
	b.WriteString(code)
	b.WriteByte(' ')
	if enh != "" {
		b.WriteString(enh)
		b.WriteByte(' ')
	}
	if to != "" {
		switch code {
		case "050", "250", "252", "450", "550", "553":
			b.WriteString(shorten(to))
			b.WriteString("... ")
		}
	}
	b.WriteString(msg)
	return b.String()
}

// SoftBounce turns a 5xx reply into the 4xx reply Sendmail gives with
// SoftBounce=True, in the reply code and the enhanced status code.
func SoftBounce(reply string) string {
	if len(reply) < 4 || reply[0] != '5' || !isDigit(reply[1]) || !isDigit(reply[2]) {
		return reply
	}
	out := "4" + reply[1:]
	if n := enhLen(out[4:], ' '); n > 0 && out[4] == '5' {
		out = out[:4] + "4" + out[5:]
	}
	return out
}

// enhLen is sendmail's isenhsc: the length of an enhanced status code
// ([245].d{1,3}.d{1,3}) at the start of s that is followed by delim (0
// for the end of s), or 0.
func enhLen(s string, delim byte) int {
	if len(s) < 5 || strings.IndexByte("245", s[0]) < 0 || s[1] != '.' {
		return 0
	}
	i := 2
	for part := 0; part < 2; part++ {
		j := i
		for j < len(s) && isDigit(s[j]) && j-i < 4 {
			j++
		}
		if j == i || j-i > 3 {
			return 0
		}
		i = j
		if part == 0 {
			if i >= len(s) || s[i] != '.' {
				return 0
			}
			i++
		}
	}
	if delim == 0 {
		if i != len(s) {
			return 0
		}
	} else if i >= len(s) || s[i] != delim {
		return 0
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// shorten is sendmail's shortenstring(to, MAXSHORTSTR): long addresses
// keep their head and tail around "...".
func shorten(s string) string {
	if len(s) < maxShortStr {
		return s
	}
	m := (maxShortStr - 3) / 2
	return s[:m] + "..." + s[len(s)-m:]
}
