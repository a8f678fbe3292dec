// SPDX-License-Identifier: MIT

package mc

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// eval: GNU m4 1.4's C-like integer expressions on 32-bit signed values.

type evalTok int

const (
	etEOT evalTok = iota
	etError
	etBadOp
	etNumber
	etPlus
	etMinus
	etTimes
	etDivide
	etModulo
	etExp
	etAssign
	etEq
	etNotEq
	etGT
	etGE
	etLS
	etLE
	etLShift
	etRShift
	etLNot
	etLAnd
	etLOr
	etNot
	etAnd
	etOr
	etXor
	etLeftP
	etRightP
)

type evalErr int

const (
	evOK evalErr = iota
	evMissingRight
	evSyntax
	evUnknownInput
	evExcessInput
	evInvalidOp
	evDivZero
	evModZero
	evNegExp
)

type evalParser struct {
	e       *Engine
	text    string
	pos     int
	prevPos int
	val     int32
}

func (p *evalParser) lex() evalTok {
	s := p.text
	for p.pos < len(s) && isSpace(int(s[p.pos])) {
		p.pos++
	}
	p.prevPos = p.pos
	if p.pos >= len(s) {
		return etEOT
	}
	c := s[p.pos]
	if c >= '0' && c <= '9' {
		base := 10
		if c == '0' {
			p.pos++
			if p.pos < len(s) {
				switch s[p.pos] {
				case 'x', 'X':
					base = 16
					p.pos++
				case 'b', 'B':
					base = 2
					p.pos++
				case 'r', 'R':
					base = 0
					p.pos++
					for p.pos < len(s) && s[p.pos] >= '0' && s[p.pos] <= '9' && base <= 36 {
						base = base*10 + int(s[p.pos]-'0')
						p.pos++
					}
					if base == 0 || base > 36 || p.pos >= len(s) || s[p.pos] != ':' {
						return etError
					}
					p.pos++
				default:
					base = 8
				}
			} else {
				base = 8
			}
		}
		var v uint32
		for ; p.pos < len(s); p.pos++ {
			ch := s[p.pos]
			var d int
			switch {
			case ch >= '0' && ch <= '9':
				d = int(ch - '0')
			case ch >= 'a' && ch <= 'z':
				d = int(ch-'a') + 10
			case ch >= 'A' && ch <= 'Z':
				d = int(ch-'A') + 10
			default:
				goto done
			}
			if base == 1 {
				if d == 1 {
					v++
				} else if d == 0 && v == 0 {
					continue
				} else {
					goto done
				}
			} else if d >= base {
				goto done
			} else {
				v = v*uint32(base) + uint32(d)
			}
		}
	done:
		p.val = int32(v)
		return etNumber
	}
	p.pos++
	next := byte(0)
	if p.pos < len(s) {
		next = s[p.pos]
	}
	switch c {
	case '+':
		if next == '+' || next == '=' {
			return etBadOp
		}
		return etPlus
	case '-':
		if next == '-' || next == '=' {
			return etBadOp
		}
		return etMinus
	case '*':
		if next == '*' {
			p.pos++
			if p.pos < len(s) && s[p.pos] == '=' {
				return etBadOp
			}
			return etExp
		}
		if next == '=' {
			return etBadOp
		}
		return etTimes
	case '/':
		if next == '=' {
			return etBadOp
		}
		return etDivide
	case '%':
		if next == '=' {
			return etBadOp
		}
		return etModulo
	case '=':
		if next == '=' {
			p.pos++
			return etEq
		}
		return etAssign
	case '!':
		if next == '=' {
			p.pos++
			return etNotEq
		}
		return etLNot
	case '>':
		if next == '=' {
			p.pos++
			return etGE
		}
		if next == '>' {
			p.pos++
			if p.pos < len(s) && s[p.pos] == '=' {
				return etBadOp
			}
			return etRShift
		}
		return etGT
	case '<':
		if next == '=' {
			p.pos++
			return etLE
		}
		if next == '<' {
			p.pos++
			if p.pos < len(s) && s[p.pos] == '=' {
				return etBadOp
			}
			return etLShift
		}
		return etLS
	case '^':
		if next == '=' {
			return etBadOp
		}
		return etXor
	case '~':
		return etNot
	case '&':
		if next == '&' {
			p.pos++
			return etLAnd
		}
		if next == '=' {
			return etBadOp
		}
		return etAnd
	case '|':
		if next == '|' {
			p.pos++
			return etLOr
		}
		if next == '=' {
			return etBadOp
		}
		return etOr
	case '(':
		return etLeftP
	case ')':
		return etRightP
	}
	return etError
}

func (p *evalParser) undo() { p.pos = p.prevPos }

// Each level parses an operand starting at token t. live is false in a
// branch that && or || skip, where arithmetic faults are not reported.

func (p *evalParser) lor(t evalTok, live bool) (int32, evalErr) {
	v, err := p.land(t, live)
	if err != evOK {
		return 0, err
	}
	for {
		op := p.lex()
		if op != etLOr {
			p.undo()
			return v, evOK
		}
		t = p.lex()
		v2, err := p.land(t, live && v == 0)
		if err != evOK {
			return 0, err
		}
		v = b2i(v != 0 || v2 != 0)
	}
}

func (p *evalParser) land(t evalTok, live bool) (int32, evalErr) {
	v, err := p.bor(t, live)
	if err != evOK {
		return 0, err
	}
	for {
		op := p.lex()
		if op != etLAnd {
			p.undo()
			return v, evOK
		}
		t = p.lex()
		v2, err := p.bor(t, live && v != 0)
		if err != evOK {
			return 0, err
		}
		v = b2i(v != 0 && v2 != 0)
	}
}

func (p *evalParser) bor(t evalTok, live bool) (int32, evalErr) {
	v, err := p.bxor(t, live)
	if err != evOK {
		return 0, err
	}
	for {
		if p.lex() != etOr {
			p.undo()
			return v, evOK
		}
		v2, err := p.bxor(p.lex(), live)
		if err != evOK {
			return 0, err
		}
		v |= v2
	}
}

func (p *evalParser) bxor(t evalTok, live bool) (int32, evalErr) {
	v, err := p.band(t, live)
	if err != evOK {
		return 0, err
	}
	for {
		if p.lex() != etXor {
			p.undo()
			return v, evOK
		}
		v2, err := p.band(p.lex(), live)
		if err != evOK {
			return 0, err
		}
		v ^= v2
	}
}

func (p *evalParser) band(t evalTok, live bool) (int32, evalErr) {
	v, err := p.equality(t, live)
	if err != evOK {
		return 0, err
	}
	for {
		if p.lex() != etAnd {
			p.undo()
			return v, evOK
		}
		v2, err := p.equality(p.lex(), live)
		if err != evOK {
			return 0, err
		}
		v &= v2
	}
}

func (p *evalParser) equality(t evalTok, live bool) (int32, evalErr) {
	v, err := p.compare(t, live)
	if err != evOK {
		return 0, err
	}
	for {
		op := p.lex()
		if op != etEq && op != etNotEq && op != etAssign {
			p.undo()
			return v, evOK
		}
		v2, err := p.compare(p.lex(), live)
		if err != evOK {
			return 0, err
		}
		if op == etAssign {
			p.e.warnf("recommend ==, not =, for equality operator")
		}
		if op == etNotEq {
			v = b2i(v != v2)
		} else {
			v = b2i(v == v2)
		}
	}
}

func (p *evalParser) compare(t evalTok, live bool) (int32, evalErr) {
	v, err := p.shift(t, live)
	if err != evOK {
		return 0, err
	}
	for {
		op := p.lex()
		if op != etGT && op != etGE && op != etLS && op != etLE {
			p.undo()
			return v, evOK
		}
		v2, err := p.shift(p.lex(), live)
		if err != evOK {
			return 0, err
		}
		switch op {
		case etGT:
			v = b2i(v > v2)
		case etGE:
			v = b2i(v >= v2)
		case etLS:
			v = b2i(v < v2)
		default:
			v = b2i(v <= v2)
		}
	}
}

func (p *evalParser) shift(t evalTok, live bool) (int32, evalErr) {
	v, err := p.add(t, live)
	if err != evOK {
		return 0, err
	}
	for {
		op := p.lex()
		if op != etLShift && op != etRShift {
			p.undo()
			return v, evOK
		}
		v2, err := p.add(p.lex(), live)
		if err != evOK {
			return 0, err
		}
		if op == etLShift {
			v = int32(uint32(v) << (uint32(v2) & 31))
		} else {
			v >>= uint32(v2) & 31
		}
	}
}

func (p *evalParser) add(t evalTok, live bool) (int32, evalErr) {
	v, err := p.mult(t, live)
	if err != evOK {
		return 0, err
	}
	for {
		op := p.lex()
		if op != etPlus && op != etMinus {
			p.undo()
			return v, evOK
		}
		v2, err := p.mult(p.lex(), live)
		if err != evOK {
			return 0, err
		}
		if op == etPlus {
			v = int32(uint32(v) + uint32(v2))
		} else {
			v = int32(uint32(v) - uint32(v2))
		}
	}
}

func (p *evalParser) mult(t evalTok, live bool) (int32, evalErr) {
	v, err := p.exp(t, live)
	if err != evOK {
		return 0, err
	}
	for {
		op := p.lex()
		if op != etTimes && op != etDivide && op != etModulo {
			p.undo()
			return v, evOK
		}
		v2, err := p.exp(p.lex(), live)
		if err != evOK {
			return 0, err
		}
		switch op {
		case etTimes:
			v = int32(uint32(v) * uint32(v2))
		case etDivide:
			if v2 == 0 {
				if live {
					return 0, evDivZero
				}
				v = 0
			} else if v2 == -1 {
				v = int32(-uint32(v))
			} else {
				v /= v2
			}
		default:
			if v2 == 0 {
				if live {
					return 0, evModZero
				}
				v = 0
			} else if v2 == -1 {
				v = 0
			} else {
				v %= v2
			}
		}
	}
}

func (p *evalParser) exp(t evalTok, live bool) (int32, evalErr) {
	v, err := p.unary(t, live)
	if err != evOK {
		return 0, err
	}
	for {
		if p.lex() != etExp {
			p.undo()
			return v, evOK
		}
		v2, err := p.exp(p.lex(), live)
		if err != evOK {
			return 0, err
		}
		if v2 < 0 {
			if live {
				return 0, evNegExp
			}
			v = 0
			continue
		}
		if v == 0 && v2 == 0 {
			if live {
				return 0, evDivZero
			}
			continue
		}
		// Square and multiply: the same result modulo 2**32 as repeated
		// multiplication, in 31 steps at most.
		r, b := uint32(1), uint32(v)
		for n := uint32(v2); n > 0; n >>= 1 {
			if n&1 != 0 {
				r *= b
			}
			b *= b
		}
		v = int32(r)
	}
}

func (p *evalParser) unary(t evalTok, live bool) (int32, evalErr) {
	switch t {
	case etPlus, etMinus, etNot, etLNot:
		v, err := p.unary(p.lex(), live)
		if err != evOK {
			return 0, err
		}
		switch t {
		case etMinus:
			v = int32(-uint32(v))
		case etNot:
			v = ^v
		case etLNot:
			v = b2i(v == 0)
		}
		return v, evOK
	}
	return p.simple(t, live)
}

func (p *evalParser) simple(t evalTok, live bool) (int32, evalErr) {
	switch t {
	case etNumber:
		return p.val, evOK
	case etLeftP:
		v, err := p.lor(p.lex(), live)
		if err != evOK {
			return 0, err
		}
		switch p.lex() {
		case etRightP:
		case etError:
			return 0, evUnknownInput
		default:
			return 0, evMissingRight
		}
		return v, evOK
	case etBadOp:
		return 0, evInvalidOp
	case etError:
		return 0, evUnknownInput
	}
	return 0, evSyntax
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// evaluate runs an eval expression, reporting errors as m4 does.
func (e *Engine) evaluate(expr string) (int32, bool) {
	p := &evalParser{e: e, text: expr}
	var v int32
	err := evSyntax // GNU m4 calls bad input at the very start a syntax error
	if t := p.lex(); t != etError {
		v, err = p.lor(t, true)
	}
	if err == evOK && p.pos < len(p.text) {
		switch p.lex() {
		case etBadOp:
			err = evInvalidOp
		case etError:
			err = evUnknownInput
		default:
			err = evExcessInput
		}
	}
	switch err {
	case evOK:
		return v, true
	case evMissingRight:
		e.msg("bad expression in eval (missing right parenthesis): " + expr)
	case evSyntax:
		e.msg("bad expression in eval: " + expr)
	case evUnknownInput:
		e.msg("bad expression in eval (bad input): " + expr)
	case evExcessInput:
		e.msg("bad expression in eval (excess input): " + expr)
	case evInvalidOp:
		e.errorf("invalid operator in eval: %s", expr)
	case evDivZero:
		e.msg("divide by zero in eval: " + expr)
	case evModZero:
		e.msg("modulo by zero in eval: " + expr)
	case evNegExp:
		e.msg("negative exponent in eval: " + expr)
	}
	return 0, false
}

// formatArgs hands out format's arguments, converting them the way GNU
// m4's format does (strtol/strtod prefixes, with its own messages).
type formatArgs struct {
	e    *Engine
	args []string
}

func (a *formatArgs) next() (string, bool) {
	if len(a.args) == 0 {
		return "", false
	}
	s := a.args[0]
	a.args = a.args[1:]
	return s, true
}

// checkNum reports the problems GNU m4 reports for a numeric argument:
// rest is what the conversion left unparsed.
func (a *formatArgs) checkNum(s, rest string, overflow bool) {
	switch {
	case s == "":
		a.e.msg("empty string treated as 0")
	case rest != "":
		a.e.msgf("non-numeric argument %s", s)
	case isSpace(int(s[0])):
		a.e.msg("leading whitespace ignored")
	case overflow:
		a.e.msg("numeric overflow detected")
	}
}

func (a *formatArgs) long() int64 {
	s, ok := a.next()
	if !ok {
		return 0
	}
	v, rest, over := strtol(s)
	a.checkNum(s, rest, over)
	return v
}

func (a *formatArgs) int() int64 {
	s, ok := a.next()
	if !ok {
		return 0
	}
	v, rest, over := strtol(s)
	if v > math.MaxInt32 || v < math.MinInt32 {
		over = true
	}
	a.checkNum(s, rest, over)
	return int64(int32(v))
}

func (a *formatArgs) double() float64 {
	s, ok := a.next()
	if !ok {
		return 0
	}
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	// Longest prefix that parses, like strtod.
	var v float64
	n := 0
	for k := len(t); k > 0; k-- {
		cand := t[:k]
		if h := strings.TrimLeft(cand, "+-"); len(h) > 2 && (h[:2] == "0x" || h[:2] == "0X") && !strings.ContainsAny(h, "pP") {
			cand += "p0" // strtod reads hex without an exponent
		}
		if f, err := strconv.ParseFloat(cand, 64); err == nil || isRangeErr(err) {
			v, n = f, k
			break
		}
	}
	a.checkNum(s, t[n:], false)
	return v
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// cFloat renders an infinity or NaN as C's printf does.
func cFloat(spec string, conv byte, v float64) string {
	if !math.IsInf(v, 0) && !math.IsNaN(v) {
		return fmt.Sprintf(spec+string(conv), v)
	}
	word := "inf"
	if math.IsNaN(v) {
		word = "nan"
	}
	if conv >= 'A' && conv <= 'Z' {
		word = strings.ToUpper(word)
	}
	if math.IsInf(v, -1) {
		word = "-" + word
	} else if strings.Contains(spec, "+") {
		word = "+" + word
	} else if strings.Contains(spec, " ") {
		word = " " + word
	}
	return fmt.Sprintf("%"+textWidth(spec[1:])+"s", word)
}

// biFormat implements format with the printf conversions GNU m4 1.4
// accepts: flags -+ #0', width and precision (also *), the length
// modifiers hh, h and l, and c s d i o u x X e E f F g G.
func biFormat(e *Engine, c *call) string {
	if !e.checkArgs(c, 2, -1) {
		return ""
	}
	f := c.args[1]
	a := &formatArgs{e: e, args: c.args[2:]}
	var sb strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			sb.WriteByte(f[i])
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			sb.WriteByte('%')
			continue
		}
		spec := "%"
		for i < len(f) && strings.IndexByte("-+ #0'", f[i]) >= 0 {
			if f[i] != '\'' {
				spec += string(f[i])
			}
			i++
		}
		// num reads a width or precision and charges it to the output
		// limit, so that %999999999d cannot exhaust memory.
		num := func() string {
			var v int64
			if i < len(f) && f[i] == '*' {
				v = a.int()
				i++
			} else {
				j := i
				for i < len(f) && f[i] >= '0' && f[i] <= '9' {
					i++
				}
				v, _, _ = strtol(f[j:i])
			}
			if v > e.maxOutput {
				v = e.maxOutput + 1
			}
			if v > 0 {
				e.grow(int(v))
			}
			return strconv.FormatInt(v, 10)
		}
		if w := num(); w != "0" {
			spec += w
		}
		if i < len(f) && f[i] == '.' {
			i++
			spec += "." + num()
		}
		mod := ""
		switch {
		case strings.HasPrefix(f[i:], "hh"):
			mod = "hh"
		case strings.HasPrefix(f[i:], "h"):
			mod = "h"
		case strings.HasPrefix(f[i:], "l"):
			mod = "l"
		}
		i += len(mod)
		if i >= len(f) {
			e.warnf("unrecognized specifier in `%s'", f)
			break
		}
		conv := f[i]
		switch {
		case (conv == 'c' || conv == 's') && mod == "":
			if conv == 's' {
				s, _ := a.next()
				sb.WriteString(fmt.Sprintf(spec+"s", s))
			} else {
				// C builds the text with a NUL byte for %c of 0, and m4
				// keeps only what precedes it.
				out := fmt.Sprintf(textWidthSpec(spec)+"s", string([]byte{byte(a.int())}))
				if k := strings.IndexByte(out, 0); k >= 0 {
					out = out[:k]
				}
				sb.WriteString(out)
			}
		case strings.IndexByte("dioxXu", conv) >= 0:
			var v int64
			if mod == "l" {
				v = a.long()
			} else {
				v = a.int()
			}
			signed := conv == 'd' || conv == 'i'
			var x any
			switch mod {
			case "hh":
				x = int8(v)
				if !signed {
					x = uint8(v)
				}
			case "h":
				x = int16(v)
				if !signed {
					x = uint16(v)
				}
			case "l":
				x = v
				if !signed {
					x = uint64(v)
				}
			default:
				x = int32(v)
				if !signed {
					x = uint32(v)
				}
			}
			verb := string(conv)
			if conv == 'i' || conv == 'u' {
				verb = "d"
			}
			if conv == 'o' && strings.Contains(spec, "#") {
				// C's %#o prefixes a single 0 (none for 0); Go's %#o too.
				verb = "o"
			}
			sb.WriteString(fmt.Sprintf(spec+verb, x))
		case (conv == 'a' || conv == 'A') && (mod == "" || mod == "l"):
			sb.WriteString(cHexFloat(spec, conv, a.double()))
		case strings.IndexByte("eEfFgG", conv) >= 0 && (mod == "" || mod == "l"):
			v := a.double()
			if (conv == 'g' || conv == 'G') && !strings.Contains(spec, ".") {
				spec += ".6" // C's default; Go's %g is the shortest form
			}
			if conv == 'F' {
				sb.WriteString(strings.ToUpper(cFloat(spec, 'f', v)))
			} else {
				sb.WriteString(cFloat(spec, conv, v))
			}
		default:
			e.warnf("unrecognized specifier in `%s'", f)
		}
	}
	return sb.String()
}

// cHexFloat renders %a as C does: Go's hexadecimal float with the
// exponent's leading zeros removed.
func cHexFloat(spec string, conv byte, v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return cFloat(spec, conv, v)
	}
	prec := -1
	width := spec[1:]
	if k := strings.IndexByte(width, '.'); k >= 0 {
		prec, _ = strconv.Atoi(width[k+1:])
		width = width[:k]
	}
	out := strconv.FormatFloat(v, 'x', prec, 64)
	if k := strings.IndexByte(out, 'p'); k >= 0 {
		exp := out[k+2:]
		for len(exp) > 1 && exp[0] == '0' {
			exp = exp[1:]
		}
		out = out[:k+2] + exp
	}
	if v >= 0 && strings.Contains(width, "+") {
		out = "+" + out
	} else if v >= 0 && strings.Contains(width, " ") {
		out = " " + out
	}
	if conv == 'A' {
		out = strings.ToUpper(out)
	}
	return fmt.Sprintf("%"+textWidth(width)+"s", out)
}

func textWidthSpec(spec string) string { return "%" + textWidth(spec[1:]) }

// textWidth keeps, of printf flags and width, what applies to text: the
// "-" flag and the width (a precision is dropped).
func textWidth(spec string) string {
	k := 0
	left := false
	for k < len(spec) && strings.IndexByte("-+ #0", spec[k]) >= 0 {
		left = left || spec[k] == '-'
		k++
	}
	w := spec[k:]
	if d := strings.IndexByte(w, '.'); d >= 0 {
		w = w[:d]
	}
	if left {
		return "-" + w
	}
	return w
}
