// SPDX-License-Identifier: MIT

package mc

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

var builtinTable []*builtinDef

func init() {
	add := func(name string, blind bool, fn func(e *Engine, c *call) string) {
		builtinTable = append(builtinTable, &builtinDef{name: name, blind: blind, fn: fn})
	}
	add("__file__", false, biFile)
	add("__line__", false, biLine)
	add("__program__", false, biProgram)
	add("builtin", true, biBuiltin)
	add("changecom", false, biChangecom)
	add("changequote", false, biChangequote)
	add("decr", true, biDecr)
	add("define", true, biDefine)
	add("defn", true, biDefn)
	add("divert", false, biDivert)
	add("divnum", false, biDivnum)
	add("dnl", false, biDnl)
	add("dumpdef", false, biDumpdef)
	add("errprint", true, biErrprint)
	add("esyscmd", true, biUnsupported)
	add("eval", true, biEval)
	add("format", true, biFormat)
	add("ifdef", true, biIfdef)
	add("ifelse", true, biIfelse)
	add("include", true, biInclude)
	add("incr", true, biIncr)
	add("index", true, biIndex)
	add("indir", true, biIndir)
	add("len", true, biLen)
	add("m4exit", false, biM4exit)
	add("m4wrap", true, biM4wrap)
	add("maketemp", true, biUnsupported)
	add("mkstemp", true, biUnsupported)
	add("patsubst", true, biPatsubst)
	add("popdef", true, biPopdef)
	add("pushdef", true, biPushdef)
	add("regexp", true, biRegexp)
	add("shift", true, biShift)
	add("sinclude", true, biSinclude)
	add("substr", true, biSubstr)
	add("syscmd", true, biUnsupported)
	add("sysval", false, biSysval)
	add("translit", true, biTranslit)
	add("undefine", true, biUndefine)
	add("undivert", false, biUndivert)
}

func (e *Engine) callBuiltin(b *builtinDef, c *call) string {
	if b.ext != nil {
		res, err := b.ext(e, c.args)
		if err != nil {
			e.errorf("%v", err)
		}
		return res
	}
	return b.fn(e, c)
}

// checkArgs mirrors GNU m4's bad_argc: argc counts the name; min and max
// likewise (max < 0 = unlimited). It reports whether the call may go on.
func (e *Engine) checkArgs(c *call, min, max int) bool {
	argc := len(c.args)
	if argc < min {
		e.warnf("too few arguments to builtin `%s'", c.name)
		return false
	}
	if max >= 0 && argc > max {
		e.warnf("excess arguments to builtin `%s' ignored", c.name)
	}
	return true
}

func (c *call) arg(i int) string {
	if i < len(c.args) {
		return c.args[i]
	}
	return ""
}

// strtol parses like C strtol base 10: leading space, sign, digits. It
// returns the value, the unparsed rest and whether it overflowed.
func strtol(s string) (int64, string, bool) {
	i := 0
	for i < len(s) && isSpace(int(s[i])) {
		i++
	}
	neg := false
	j := i
	if j < len(s) && (s[j] == '+' || s[j] == '-') {
		neg = s[j] == '-'
		j++
	}
	k := j
	var v uint64
	over := false
	for k < len(s) && s[k] >= '0' && s[k] <= '9' {
		d := uint64(s[k] - '0')
		if v > (1<<63)/10 || v*10+d > 1<<63 {
			over = true
		}
		v = v*10 + d
		k++
	}
	if k == j {
		return 0, s, false
	}
	if over || (!neg && v > 1<<63-1) {
		if neg {
			return -1 << 63, s[k:], true
		}
		return 1<<63 - 1, s[k:], true
	}
	if neg {
		return -int64(v), s[k:], false
	}
	return int64(v), s[k:], false
}

// numericArg mirrors GNU m4's numeric_arg: the value is truncated to a C
// int as m4 does.
func (e *Engine) numericArg(c *call, s string) (int, bool) {
	if s == "" {
		e.msg(fmt.Sprintf("empty string treated as 0 in builtin `%s'", c.name))
		return 0, true
	}
	v, rest, over := strtol(s)
	if rest != "" {
		e.msgf("non-numeric argument to builtin `%s'", c.name)
		return 0, false
	}
	if isSpace(int(s[0])) {
		e.msg(fmt.Sprintf("leading whitespace ignored in builtin `%s'", c.name))
	} else if over {
		e.msg(fmt.Sprintf("numeric overflow detected in builtin `%s'", c.name))
	}
	return int(int32(v)), true
}

func biFile(e *Engine, c *call) string {
	e.checkArgs(c, 1, 1)
	return e.lquote + e.file + e.rquote
}

func biLine(e *Engine, c *call) string {
	e.checkArgs(c, 1, 1)
	return strconv.Itoa(e.line)
}

func biProgram(e *Engine, c *call) string {
	e.checkArgs(c, 1, 1)
	return e.lquote + "m4" + e.rquote
}

func biUnsupported(e *Engine, c *call) string {
	e.errorf("builtin `%s' is not supported", c.name)
	return ""
}

func biBuiltin(e *Engine, c *call) string {
	if !e.checkArgs(c, 2, -1) {
		return ""
	}
	name := c.args[1]
	var b *builtinDef
	for _, x := range builtinTable {
		if x.name == name {
			b = x
		}
	}
	if b == nil {
		e.msgf("undefined builtin `%s'", name)
		return ""
	}
	return e.callBuiltin(b, &call{name: name, args: c.args[1:], defs: c.defs[1:]})
}

func biIndir(e *Engine, c *call) string {
	if !e.checkArgs(c, 2, -1) {
		return ""
	}
	name := c.args[1]
	s := e.lookup(name)
	if s == nil {
		e.msgf("undefined macro `%s'", name)
		return ""
	}
	nc := &call{name: name, args: c.args[1:], defs: c.defs[1:]}
	if s.bi != nil {
		return e.callBuiltin(s.bi, nc)
	}
	return e.expandBody(s.text, nc.args)
}

func biChangecom(e *Engine, c *call) string {
	e.checkArgs(c, 1, 3)
	switch {
	case len(c.args) == 1:
		e.bcomm, e.ecomm = "", ""
	default:
		e.bcomm = c.args[1]
		e.ecomm = "\n"
		if len(c.args) > 2 {
			e.ecomm = c.args[2]
		}
		if e.bcomm != "" && e.ecomm == "" {
			e.ecomm = "\n"
		}
	}
	return ""
}

func biChangequote(e *Engine, c *call) string {
	e.checkArgs(c, 1, 3)
	switch {
	case len(c.args) == 1:
		e.lquote, e.rquote = "`", "'"
	default:
		e.lquote = c.args[1]
		e.rquote = "'"
		if len(c.args) > 2 {
			e.rquote = c.args[2]
		}
		if e.lquote != "" && e.rquote == "" {
			e.rquote = "'"
		}
	}
	return ""
}

func biIncr(e *Engine, c *call) string {
	if !e.checkArgs(c, 2, 2) {
		return ""
	}
	v, ok := e.numericArg(c, c.args[1])
	if !ok {
		return ""
	}
	return strconv.Itoa(int(int32(v) + 1))
}

func biDecr(e *Engine, c *call) string {
	if !e.checkArgs(c, 2, 2) {
		return ""
	}
	v, ok := e.numericArg(c, c.args[1])
	if !ok {
		return ""
	}
	return strconv.Itoa(int(int32(v) - 1))
}

func (e *Engine) defineCall(c *call, push bool) string {
	if !e.checkArgs(c, 2, 3) {
		return ""
	}
	s := &symbol{text: c.arg(2)}
	if len(c.defs) > 2 && c.defs[2] != nil {
		s = &symbol{bi: c.defs[2]}
	}
	e.setSym(c.args[1], s, push)
	return ""
}

func biDefine(e *Engine, c *call) string  { return e.defineCall(c, false) }
func biPushdef(e *Engine, c *call) string { return e.defineCall(c, true) }

func biUndefine(e *Engine, c *call) string {
	if !e.checkArgs(c, 2, -1) {
		return ""
	}
	for _, n := range c.args[1:] {
		delete(e.syms, n)
	}
	return ""
}

func biPopdef(e *Engine, c *call) string {
	if !e.checkArgs(c, 2, -1) {
		return ""
	}
	for _, n := range c.args[1:] {
		st := e.syms[n]
		if len(st) <= 1 {
			delete(e.syms, n)
			continue
		}
		st[len(st)-1] = nil
		e.syms[n] = st[:len(st)-1]
	}
	return ""
}

func biDefn(e *Engine, c *call) string {
	if !e.checkArgs(c, 2, -1) {
		return ""
	}
	var sb strings.Builder
	for _, n := range c.args[1:] {
		s := e.lookup(n)
		if s == nil {
			continue
		}
		if s.bi != nil {
			if len(c.args) != 2 {
				e.warnf("cannot concatenate builtin `%s'", n)
				continue
			}
			e.pushDef(s.bi)
			continue
		}
		sb.WriteString(e.lquote + s.text + e.rquote)
	}
	return sb.String()
}

func biIfdef(e *Engine, c *call) string {
	if !e.checkArgs(c, 3, 4) {
		return ""
	}
	if e.lookup(c.args[1]) != nil {
		return c.args[2]
	}
	return c.arg(3)
}

func biIfelse(e *Engine, c *call) string {
	argc := len(c.args)
	if argc == 2 {
		return ""
	}
	if !e.checkArgs(c, 4, -1) {
		return ""
	}
	if (argc+2)%3 > 1 {
		e.warnf("excess arguments to builtin `%s' ignored", c.name)
	}
	a := c.args[1:]
	n := argc - 1
	for {
		if a[0] == a[1] {
			return a[2]
		}
		switch n {
		case 3:
			return ""
		case 4, 5:
			return a[3]
		}
		n -= 3
		a = a[3:]
	}
}

func biShift(e *Engine, c *call) string {
	if len(c.args) <= 2 {
		return ""
	}
	var sb strings.Builder
	for i, a := range c.args[2:] {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(e.lquote + a + e.rquote)
	}
	return sb.String()
}

func biDivert(e *Engine, c *call) string {
	e.checkArgs(c, 1, 2)
	n := 0
	if len(c.args) > 1 {
		v, ok := e.numericArg(c, c.args[1])
		if !ok {
			return ""
		}
		n = v
	}
	if n < 0 {
		n = -1
	}
	e.cur = n
	return ""
}

func biDivnum(e *Engine, c *call) string {
	e.checkArgs(c, 1, 1)
	return strconv.Itoa(e.cur)
}

func (e *Engine) insertDiversion(n int) {
	if n <= 0 || n == e.cur {
		return
	}
	d := e.divs[n]
	if d == nil {
		return
	}
	delete(e.divs, n)
	e.emit(d.String())
}

func biUndivert(e *Engine, c *call) string {
	if len(c.args) == 1 {
		keys := make([]int, 0, len(e.divs))
		for k := range e.divs {
			keys = append(keys, k)
		}
		sort.Ints(keys)
		for _, k := range keys {
			e.insertDiversion(k)
		}
		return ""
	}
	for _, a := range c.args[1:] {
		v, rest, _ := strtol(a)
		if rest == "" && (a == "" || !isSpace(int(a[0]))) {
			e.insertDiversion(int(int32(v)))
			continue
		}
		rc, _, err := e.openFile(a)
		if err == nil {
			var data []byte
			data, err = io.ReadAll(rc)
			rc.Close()
			if err == nil {
				e.emit(string(data))
				continue
			}
		}
		e.msgf("cannot undivert `%s': %s", a, errnoText(err))
	}
	return ""
}

func biDnl(e *Engine, c *call) string {
	e.checkArgs(c, 1, 1)
	file, line := e.file, e.line
	for {
		ch := e.next()
		if ch == '\n' {
			return ""
		}
		if ch == eof {
			e.file, e.line = file, line
			e.warnf("end of file treated as newline")
			return ""
		}
		if ch == -2 {
			e.popInput()
		}
	}
}

func biErrprint(e *Engine, c *call) string {
	if !e.checkArgs(c, 2, -1) {
		return ""
	}
	e.out.Flush()
	io.WriteString(e.stderr, strings.Join(c.args[1:], " "))
	return ""
}

func biLen(e *Engine, c *call) string {
	if !e.checkArgs(c, 2, 2) {
		return ""
	}
	return strconv.Itoa(len(c.args[1]))
}

func biIndex(e *Engine, c *call) string {
	if !e.checkArgs(c, 3, 3) {
		if len(c.args) == 2 {
			return "0"
		}
		return ""
	}
	return strconv.Itoa(strings.Index(c.args[1], c.args[2]))
}

func biSubstr(e *Engine, c *call) string {
	if !e.checkArgs(c, 3, 4) {
		return c.arg(1)
	}
	s := c.args[1]
	start, ok := e.numericArg(c, c.args[2])
	if !ok {
		return ""
	}
	length := len(s)
	if len(c.args) > 3 {
		length, ok = e.numericArg(c, c.args[3])
		if !ok {
			return ""
		}
	}
	if start < 0 || length <= 0 || start >= len(s) {
		return ""
	}
	if length > len(s)-start {
		length = len(s) - start
	}
	return s[start : start+length]
}

// expandRanges expands a-z ranges in a translit set, as GNU m4 does
// (backward ranges count down).
func expandRanges(s string) []byte {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '-' && i > 0 && i+1 < len(s) {
			from := out[len(out)-1]
			to := s[i+1]
			if from <= to {
				for ch := int(from) + 1; ch <= int(to); ch++ {
					out = append(out, byte(ch))
				}
			} else {
				for ch := int(from) - 1; ch >= int(to); ch-- {
					out = append(out, byte(ch))
				}
			}
			i++
			continue
		}
		out = append(out, s[i])
	}
	return out
}

func biTranslit(e *Engine, c *call) string {
	if !e.checkArgs(c, 3, 4) {
		return c.arg(1)
	}
	from := expandRanges(c.args[2])
	to := expandRanges(c.arg(3))
	var m [256]int
	for i := range m {
		m[i] = i
	}
	var seen [256]bool
	for i, ch := range from {
		if seen[ch] {
			continue
		}
		seen[ch] = true
		if i < len(to) {
			m[ch] = int(to[i])
		} else {
			m[ch] = -1
		}
	}
	s := c.args[1]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if v := m[s[i]]; v >= 0 {
			out = append(out, byte(v))
		}
	}
	return string(out)
}

func biM4exit(e *Engine, c *call) string {
	e.checkArgs(c, 1, 2)
	status := 0
	if len(c.args) > 1 {
		v, ok := e.numericArg(c, c.args[1])
		if !ok {
			status = 1
		} else if v < 0 || v > 255 {
			e.errorf("exit status out of range: `%d'", v)
			status = 1
		} else {
			status = v
		}
	}
	if status == 0 && e.errors > 0 {
		status = 1
	}
	e.exit = status
	e.stopped = true
	e.out.Flush()
	panic(&fatalError{status: status})
}

func biM4wrap(e *Engine, c *call) string {
	if !e.checkArgs(c, 2, -1) {
		return ""
	}
	e.wraps = append(e.wraps, wrapText{text: strings.Join(c.args[1:], " "), file: e.file, line: e.line})
	return ""
}

func (e *Engine) includeCall(c *call, silent bool) string {
	if !e.checkArgs(c, 2, 2) {
		return ""
	}
	name := c.args[1]
	rc, path, err := e.openFile(name)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(rc)
		rc.Close()
	}
	if err != nil {
		if !silent {
			e.errorf("cannot open `%s': %s", name, errnoText(err))
		}
		return ""
	}
	e.pushFile(path, string(data))
	return ""
}

func biInclude(e *Engine, c *call) string  { return e.includeCall(c, false) }
func biSinclude(e *Engine, c *call) string { return e.includeCall(c, true) }

func biEval(e *Engine, c *call) string {
	if !e.checkArgs(c, 2, 4) {
		return ""
	}
	radix := 10
	width := 1
	if len(c.args) > 2 && c.args[2] != "" {
		v, ok := e.numericArg(c, c.args[2])
		if !ok {
			return ""
		}
		radix = v
	}
	if radix < 1 || radix > 36 {
		e.msgf("radix %d in builtin `%s' out of range", radix, c.name)
		return ""
	}
	if len(c.args) > 3 {
		v, ok := e.numericArg(c, c.args[3])
		if !ok {
			return ""
		}
		width = v
	}
	if width < 0 {
		e.msgf("negative width to builtin `%s'", c.name)
		return ""
	}
	e.grow(width)
	if c.args[1] == "" {
		e.msg(fmt.Sprintf("empty string treated as 0 in builtin `%s'", c.name))
		return formatRadix(0, radix, width)
	}
	v, ok := e.evaluate(c.args[1])
	if !ok {
		return ""
	}
	if radix == 1 {
		e.grow(int(uint32(v)))
	}
	return formatRadix(v, radix, width)
}

func formatRadix(v int32, radix, width int) string {
	neg := v < 0
	u := uint32(v)
	if neg {
		u = uint32(-int64(v))
	}
	var digits string
	if radix == 1 {
		digits = strings.Repeat("1", int(u))
	} else {
		digits = strconv.FormatUint(uint64(u), radix)
	}
	if len(digits) < width {
		digits = strings.Repeat("0", width-len(digits)) + digits
	}
	if neg {
		return "-" + digits
	}
	return digits
}

func biSysval(e *Engine, c *call) string {
	e.checkArgs(c, 1, 1)
	return "0"
}

// biDumpdef prints definitions to Stderr, sorted by name, as GNU m4 does
// with its default debug settings. Without arguments it lists every macro
// this engine knows, which is fewer builtins than GNU m4 has.
func biDumpdef(e *Engine, c *call) string {
	var names []string
	if len(c.args) == 1 {
		for n := range e.syms {
			names = append(names, n)
		}
	} else {
		for _, n := range c.args[1:] {
			if e.lookup(n) == nil {
				e.msgf("undefined macro `%s'", n)
				continue
			}
			names = append(names, n)
		}
	}
	sort.Strings(names)
	e.out.Flush()
	var sb strings.Builder
	for _, n := range names {
		s := e.lookup(n)
		if s.bi != nil {
			fmt.Fprintf(&sb, "%s:\t<%s>\n", n, s.bi.name)
		} else {
			fmt.Fprintf(&sb, "%s:\t%s\n", n, s.text)
		}
	}
	io.WriteString(e.stderr, sb.String())
	return ""
}
