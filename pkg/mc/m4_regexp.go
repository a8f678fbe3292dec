// SPDX-License-Identifier: MIT

package mc

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// GNU m4's regexp and patsubst use GNU Emacs regular expression syntax
// with leftmost-longest matching. translateRegexp rewrites such a pattern
// into Go's syntax. Back-references have no Go equivalent and are
// refused; \< and \> are approximated by a word boundary.

var errBackref = errors.New("back-references are not supported")

// translateRegexp converts an Emacs-syntax pattern. The errors mimic the
// GNU regex messages m4 prints.
func translateRegexp(pat string) (string, error) {
	var out strings.Builder
	// atomStart is where the last atom begins in out, so that a stacked
	// postfix operator can group it; -1 means no atom (operator literal).
	atomStart := -1
	lastWasOp := false
	var groups []int // where each open group starts in out
	closed := 0      // groups closed so far (for back-references)
	atStart := true  // start of pattern, or after \( or \|
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch {
		case c == '\\' && i+1 < len(pat):
			i++
			d := pat[i]
			switch d {
			case '(':
				groups = append(groups, out.Len())
				out.WriteString("(")
				atomStart, lastWasOp, atStart = -1, false, true
				continue
			case ')':
				if len(groups) == 0 {
					return "", errors.New("Unmatched ) or \\)")
				}
				start := groups[len(groups)-1]
				groups = groups[:len(groups)-1]
				closed++
				out.WriteString(")")
				atomStart, lastWasOp, atStart = start, false, false
				continue
			case '|':
				out.WriteString("|")
				atomStart, lastWasOp, atStart = -1, false, true
				continue
			case 'w':
				atomStart = out.Len()
				out.WriteString(`[0-9A-Za-z_]`)
			case 'W':
				atomStart = out.Len()
				out.WriteString(`[^0-9A-Za-z_]`)
			case 'b', 'B', '<', '>':
				// Go has no \< and \>; a word boundary is the closest.
				if d == 'B' {
					out.WriteString(`\B`)
				} else {
					out.WriteString(`\b`)
				}
				atomStart = -1
			case '`':
				out.WriteString(`\A`)
				atomStart = -1
			case '\'':
				out.WriteString(`\z`)
				atomStart = -1
			default:
				if d >= '1' && d <= '9' {
					if int(d-'0') > closed {
						return "", errors.New("Invalid back reference")
					}
					return "", errBackref
				}
				atomStart = out.Len()
				out.WriteString(regexp.QuoteMeta(string(d)))
			}
			lastWasOp, atStart = false, false
		case c == '\\':
			return "", errors.New("Trailing backslash")
		case c == '[':
			j := i + 1
			if j < len(pat) && pat[j] == '^' {
				j++
			}
			if j >= len(pat) {
				return "", errors.New("Invalid regular expression")
			}
			if pat[j] == ']' {
				j++
			}
			for j < len(pat) && pat[j] != ']' {
				j++
			}
			if j >= len(pat) {
				return "", errors.New("Unmatched [, [^, [:, [., or [=")
			}
			body := pat[i+1 : j]
			neg := strings.HasPrefix(body, "^")
			if neg {
				body = body[1:]
			}
			atomStart = out.Len()
			out.WriteString("[")
			if neg {
				out.WriteString("^")
			}
			for k := 0; k < len(body); k++ {
				ch := body[k]
				if ch == '-' && k > 0 && k < len(body)-1 {
					out.WriteByte('-')
					continue
				}
				out.WriteString(regexp.QuoteMeta(string(ch)))
				if ch == '\\' || ch == '[' || ch == ']' || ch == '^' || ch == '-' {
					// QuoteMeta leaves some of these bare.
					s := out.String()
					if !strings.HasSuffix(s, `\`+string(ch)) {
						out.Reset()
						out.WriteString(s[:len(s)-1] + `\` + string(ch))
					}
				}
			}
			out.WriteString("]")
			i = j
			lastWasOp, atStart = false, false
		case (c == '*' || c == '+' || c == '?') && !atStart && (atomStart >= 0 || lastWasOp):
			if lastWasOp && atomStart >= 0 {
				s := out.String()
				out.Reset()
				out.WriteString(s[:atomStart] + "(?:" + s[atomStart:] + ")")
			}
			out.WriteByte(c)
			lastWasOp = true
		case c == '^' && atStart:
			out.WriteString("^")
			atomStart = -1
		case c == '$' && (i == len(pat)-1 || strings.HasPrefix(pat[i+1:], `\)`) || strings.HasPrefix(pat[i+1:], `\|`)):
			out.WriteString(`$`)
			atomStart, lastWasOp = -1, false
		case c == '.':
			atomStart = out.Len()
			out.WriteString(`[^\n]`)
			lastWasOp, atStart = false, false
		default:
			atomStart = out.Len()
			out.WriteString(regexp.QuoteMeta(string(c)))
			lastWasOp, atStart = false, false
		}
	}
	if len(groups) > 0 {
		return "", errors.New("Unmatched ( or \\(")
	}
	return out.String(), nil
}

func (e *Engine) compileRegexp(c *call, pat string) *regexp.Regexp {
	tr, err := translateRegexp(pat)
	var re *regexp.Regexp
	if err == nil {
		re, err = regexp.Compile("(?m)" + tr)
	}
	if err != nil {
		// GNU m4 words this message differently in the two builtins.
		if c.name == "patsubst" {
			e.msgf("bad regular expression `%s': %v", pat, err)
		} else {
			e.msgf("bad regular expression: `%s': %v", pat, err)
		}
		return nil
	}
	re.Longest()
	return re
}

// substitute expands \& (and \0), \1-\9 and \\ in a replacement.
func (e *Engine) substitute(c *call, repl, subject string, m []int, warned *bool) string {
	var sb strings.Builder
	for i := 0; i < len(repl); i++ {
		ch := repl[i]
		if ch != '\\' || i+1 >= len(repl) {
			sb.WriteByte(ch)
			continue
		}
		i++
		d := repl[i]
		switch {
		case d == '&' || (d >= '0' && d <= '9'):
			n := 0
			if d == '0' && !*warned {
				e.warnf("\\0 will disappear, use \\& instead in replacements")
				*warned = true
			}
			if d >= '1' {
				n = int(d - '0')
			}
			if 2*n+1 >= len(m) {
				e.warnf("sub-expression %d not present", n)
				continue
			}
			if m[2*n] >= 0 {
				sb.WriteString(subject[m[2*n]:m[2*n+1]])
			}
		default:
			sb.WriteByte(d)
		}
	}
	return sb.String()
}

func biRegexp(e *Engine, c *call) string {
	if !e.checkArgs(c, 3, 4) {
		if len(c.args) == 2 {
			return "0"
		}
		return ""
	}
	re := e.compileRegexp(c, c.args[2])
	if re == nil {
		return ""
	}
	m := re.FindStringSubmatchIndex(c.args[1])
	if len(c.args) < 4 {
		if m == nil {
			return "-1"
		}
		return strconv.Itoa(m[0])
	}
	if m == nil {
		return ""
	}
	warned := false
	return e.substitute(c, c.args[3], c.args[1], m, &warned)
}

func biPatsubst(e *Engine, c *call) string {
	if !e.checkArgs(c, 3, 4) {
		return c.arg(1)
	}
	re := e.compileRegexp(c, c.args[2])
	if re == nil {
		return ""
	}
	s := c.args[1]
	repl := c.arg(3)
	// Go skips an empty match right after a match; GNU m4 replaces it
	// too. Add those back (checked without the text before them, which
	// only matters for word-boundary and line-start assertions).
	var matches [][]int
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		if n := len(matches); n > 0 {
			prev := matches[n-1]
			p := prev[1]
			if prev[1] > prev[0] && m[0] != p {
				if em := re.FindStringSubmatchIndex(s[p:]); em != nil && em[0] == 0 && em[1] == 0 {
					for k := range em {
						if em[k] >= 0 {
							em[k] += p
						}
					}
					matches = append(matches, em)
				}
			}
		}
		matches = append(matches, m)
	}
	if n := len(matches); n > 0 {
		prev := matches[n-1]
		p := prev[1]
		if prev[1] > prev[0] {
			if em := re.FindStringSubmatchIndex(s[p:]); em != nil && em[0] == 0 && em[1] == 0 {
				for k := range em {
					if em[k] >= 0 {
						em[k] += p
					}
				}
				matches = append(matches, em)
			}
		}
	}
	var sb strings.Builder
	warned := false
	off := 0
	for _, m := range matches {
		sb.WriteString(s[off:m[0]])
		sb.WriteString(e.substitute(c, repl, s, m, &warned))
		if int64(sb.Len()) > e.maxOutput {
			e.fatalf("output limit of %d bytes exceeded", e.maxOutput)
		}
		off = m[1]
	}
	sb.WriteString(s[off:])
	return sb.String()
}
