// SPDX-License-Identifier: MIT

package mc

import (
	"fmt"
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
		t = p.lex()
		if t == etEOT {
			return 0, evMissingRight
		}
		v, err := p.lor(t, live)
		if err != evOK {
			return 0, err
		}
		if p.lex() != etRightP {
			return 0, evMissingRight
		}
		return v, evOK
	case etBadOp:
		return 0, evInvalidOp
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
	v, err := p.lor(p.lex(), true)
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

// biFormat implements format with the printf conversions GNU m4 accepts.
func biFormat(e *Engine, c *call) string {
	if !e.checkArgs(c, 2, -1) {
		return ""
	}
	f := c.args[1]
	args := c.args[2:]
	next := func() (string, bool) {
		if len(args) == 0 {
			return "", false
		}
		a := args[0]
		args = args[1:]
		return a, true
	}
	intArg := func() int64 {
		a, ok := next()
		if !ok {
			return 0
		}
		v, rest, _ := strtol(a)
		if rest != "" && strings.TrimSpace(rest) != "" {
			e.msgf("non-numeric argument to builtin `%s'", c.name)
		}
		return v
	}
	floatArg := func() float64 {
		a, ok := next()
		if !ok {
			return 0
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(a), 64)
		if err != nil {
			e.msgf("non-numeric argument to builtin `%s'", c.name)
		}
		return v
	}
	var sb strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			sb.WriteByte(f[i])
			continue
		}
		i++
		if i >= len(f) {
			break
		}
		if f[i] == '%' {
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
				v = intArg()
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
		for i < len(f) && strings.IndexByte("hlLqjzt", f[i]) >= 0 {
			i++
		}
		if i >= len(f) {
			break
		}
		switch conv := f[i]; conv {
		case 'd', 'i':
			sb.WriteString(fmt.Sprintf(spec+"d", int32(intArg())))
		case 'u':
			sb.WriteString(fmt.Sprintf(spec+"d", uint32(intArg())))
		case 'o', 'x', 'X':
			sb.WriteString(fmt.Sprintf(spec+string(conv), uint32(intArg())))
		case 'c':
			sb.WriteString(fmt.Sprintf(spec+"c", rune(byte(intArg()))))
		case 's':
			a, _ := next()
			sb.WriteString(fmt.Sprintf(spec+"s", a))
		case 'e', 'E', 'f', 'F', 'g', 'G':
			if conv == 'F' {
				conv = 'f'
			}
			sb.WriteString(fmt.Sprintf(spec+string(conv), floatArg()))
		default:
			e.warnf("unrecognized specifier in `%s'", f)
			return sb.String()
		}
	}
	return sb.String()
}
