// SPDX-License-Identifier: MIT

package pop3d

import (
	"fmt"
	"strconv"
	"strings"
)

// uidlFormat is a parsed pop3_uidl_format. Dovecot's var_expand syntax is
// used: %[0][width][modifiers]<key> or %{name} (a width pads with zeros
// after a 0, else truncates), where this package knows
// the keys mbox can serve, u (uid) and v (uidvalidity), and the modifiers
// X (hexadecimal, lower case as Dovecot prints it), L and U (case).
type uidlFormat struct {
	parts []uidlPart
}

type uidlPart struct {
	lit   string
	key   byte // 'u', 'v', or 0 for a literal
	zero  bool
	width int
	hex   bool
	upper bool
}

// parseUIDLFormat parses format. Like Dovecot, which stops with "Invalid
// pop3_uidl_format" when the format names none of its keys, it refuses a
// format without %u or %v; it also refuses %m, %f and %g, which the mbox
// storage cannot serve (Dovecot fails the UIDL command for them).
func parseUIDLFormat(format string) (uidlFormat, error) {
	var f uidlFormat
	var lit strings.Builder
	keys := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			lit.WriteByte(c)
			continue
		}
		i++
		if format[i] == '%' {
			lit.WriteByte('%')
			continue
		}
		var p uidlPart
		if format[i] == '0' {
			p.zero = true
			i++
		}
		j := i
		for j < len(format) && format[j] >= '0' && format[j] <= '9' {
			j++
		}
		if j > i {
			p.width, _ = strconv.Atoi(format[i:j])
		}
		i = j
	mods:
		for i < len(format) {
			switch format[i] {
			case 'X':
				p.hex = true
			case 'U':
				p.upper = true
			case 'L':
				p.upper = false
			default:
				break mods
			}
			i++
		}
		if i >= len(format) {
			return f, fmt.Errorf("invalid pop3_uidl_format %q", format)
		}
		key := string(format[i])
		if format[i] == '{' {
			end := strings.IndexByte(format[i:], '}')
			if end < 0 {
				return f, fmt.Errorf("invalid pop3_uidl_format %q", format)
			}
			key = format[i+1 : i+end]
			i += end
		}
		switch key {
		case "u", "uid":
			p.key = 'u'
		case "v", "uidvalidity":
			p.key = 'v'
		case "m", "md5", "f", "filename", "g", "guid":
			return f, fmt.Errorf("pop3_uidl_format %q: %%%s is not supported with mbox", format, key)
		default:
			// Dovecot leaves unknown variables out of the result.
			continue
		}
		if lit.Len() > 0 {
			f.parts = append(f.parts, uidlPart{lit: lit.String()})
			lit.Reset()
		}
		f.parts = append(f.parts, p)
		keys++
	}
	if lit.Len() > 0 {
		f.parts = append(f.parts, uidlPart{lit: lit.String()})
	}
	if keys == 0 {
		return f, fmt.Errorf("invalid pop3_uidl_format %q", format)
	}
	return f, nil
}

// format returns the UIDL of one message.
func (f uidlFormat) format(uid, uidValidity uint32) string {
	var b strings.Builder
	for _, p := range f.parts {
		if p.key == 0 {
			b.WriteString(p.lit)
			continue
		}
		v := uid
		if p.key == 'v' {
			v = uidValidity
		}
		s := strconv.FormatUint(uint64(v), 10)
		if p.hex {
			s = strconv.FormatUint(uint64(v), 16)
		}
		if p.upper {
			s = strings.ToUpper(s)
		}
		switch {
		case p.zero:
			// %08Xu: zero padded to the width.
			for k := len(s); k < p.width; k++ {
				b.WriteByte('0')
			}
		case p.width > 0 && len(s) > p.width:
			// %4u: Dovecot keeps the first width characters.
			s = s[:p.width]
		}
		b.WriteString(s)
	}
	return b.String()
}
