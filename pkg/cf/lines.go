// SPDX-License-Identifier: MIT

package cf

import "strings"

// macroName reads a macro or class name at the start of s: one
// character, or {name}. It returns the name ("x" for {x}) and the rest.
func (p *parser) macroName(s string) (string, string, bool) {
	if s == "" {
		p.errorf("Name required for macro/class")
		return "", "", false
	}
	if s[0] != '{' {
		return s[:1], s[1:], true
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		p.errorf("Unbalanced { on %s", s[1:])
		p.errorf("Unable to assign macro/class ID (mid = 0xffffffff)")
		return "", "", false
	}
	name := s[1:end]
	if name == "" {
		p.errorf("Name required for macro/class")
		return "", "", false
	}
	return name, s[end+1:], true
}

// expand replaces $x and ${name} by the macros defined so far (C and K
// lines are expanded when read); other $ sequences stay.
func (p *parser) expand(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		c := s[i+1]
		switch {
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			b.WriteString(p.cfg.Macros[s[i+2:i+end]])
			i += end
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_':
			b.WriteString(p.cfg.Macros[string(c)])
			i++
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func (p *parser) macroLine(l string) {
	name, rest, ok := p.macroName(l[1:])
	if !ok {
		return
	}
	v, _ := munch(rest, 0, false)
	p.cfg.Macros[name] = v
}

func (p *parser) classLine(l string) {
	name, rest, ok := p.macroName(l[1:])
	if !ok {
		return
	}
	if _, exists := p.cfg.Classes[name]; !exists {
		p.cfg.Classes[name] = nil
	}
	for _, w := range strings.Fields(p.expand(rest)) {
		// "CR$={VirtHost}" (VIRTUSER_DOMAIN's relay line): a class
		// reference adds the members the class has at this point, as
		// sendmail's readcf does.
		if ref, ok := classRef(w); ok {
			for _, m := range p.cfg.Classes[ref] {
				p.cfg.addClass(name, m)
			}
			continue
		}
		p.cfg.addClass(name, w)
	}
}

// classRef parses a whole word "$=X" or "$={name}" into the class name.
func classRef(w string) (string, bool) {
	r, ok := strings.CutPrefix(w, "$=")
	switch {
	case !ok || r == "":
		return "", false
	case r[0] == '{' && len(r) > 2 && strings.IndexByte(r, '}') == len(r)-1:
		return r[1 : len(r)-1], true
	case len(r) == 1 && r[0] != '{':
		return r, true
	}
	return "", false
}

func (p *parser) fileClassLine(l string) {
	name, rest, ok := p.macroName(l[1:])
	if !ok {
		return
	}
	fc := ClassFile{Class: name, Line: p.line}
	rest = strings.TrimLeft(rest, " \t\n")
	if strings.HasPrefix(rest, "-o") {
		fc.Optional = true
		i := 0
		for i < len(rest) && !isSpace(rest[i]) {
			i++
		}
		rest = strings.TrimLeft(rest[i:], " \t\n")
	}
	if strings.HasPrefix(rest, "|") {
		fc.Program = true
		fc.Path = rest[1:]
		p.cfg.ClassFiles = append(p.cfg.ClassFiles, fc)
		return
	}
	i := 0
	for i < len(rest) && !isSpace(rest[i]) {
		i++
	}
	fc.Path = rest[:i]
	fc.Format = strings.TrimLeft(rest[i:], " \t\n")
	if fc.Path == "" {
		p.errorf("fileclass: missing file name")
		return
	}
	if strings.Contains(fc.Path, "@") {
		fc.Map = true
		p.cfg.ClassFiles = append(p.cfg.ClassFiles, fc)
		return
	}
	if _, exists := p.cfg.Classes[name]; !exists {
		p.cfg.Classes[name] = nil
	}
	p.cfg.ClassFiles = append(p.cfg.ClassFiles, fc)
	if !p.opts.NoClassFiles {
		p.classFile(fc)
	}
}

// mapClasses are the map classes this Debian build of sendmail offers.
var mapClasses = map[string]bool{
	"hash": true, "btree": true, "implicit": true, "user": true, "host": true, "bestmx": true,
	"dns": true, "arith": true, "macro": true, "dequote": true, "sequence": true, "switch": true,
	"stab": true, "text": true, "program": true, "regex": true, "ldap": true, "socket": true,
	"nis": true, "nisplus": true, "syslog": true, "null": true, "arpa": true,
}

// mapLine is makemapentry plus the common part of map_parseargs.
func (p *parser) mapLine(l string) {
	s := strings.TrimLeft(p.expand(l[1:]), " \t\n")
	i := 0
	for i < len(s) && (isAlnum(s[i]) || i > 0 && (s[i] == '_' || s[i] == '.')) {
		i++
	}
	if i == 0 {
		p.errorf("readcf: config K line: no map name")
		return
	}
	name := s[:i]
	s = strings.TrimLeft(s[i:], " \t\n")
	i = 0
	for i < len(s) && isAlnum(s[i]) {
		i++
	}
	if i == 0 {
		p.errorf("readcf: config K line, map %s: no map class", name)
		return
	}
	class := s[:i]
	if !mapClasses[strings.ToLower(class)] {
		p.errorf("readcf: map %s: class %s not available", name, class)
		return
	}
	spec := strings.TrimLeft(s[i:], " \t\n")
	m := &Map{Name: name, Class: class, Flags: map[byte]string{}, Spec: spec, Line: p.line}
	rest := spec
	for strings.HasPrefix(rest, "-") && len(rest) > 1 {
		j := 0
		for j < len(rest) && !isSpace(rest[j]) {
			j++
		}
		if j < 2 { // a lone "-"
			break
		}
		m.Flags[rest[1]] = rest[2:j]
		rest = strings.TrimLeft(rest[j:], " \t\n")
	}
	switch strings.ToLower(class) {
	case "dns", "ldap":
		// These classes parse their own arguments and have no file
		// (-R A in "Kdnsbl dns -R A" takes the next word).
		m.Args = rest
	default:
		j := 0
		for j < len(rest) && !isSpace(rest[j]) {
			j++
		}
		m.File = rest[:j]
		m.Args = strings.TrimLeft(rest[j:], " \t\n")
	}
	if _, dup := p.cfg.Maps[name]; !dup {
		p.cfg.MapOrder = append(p.cfg.MapOrder, name)
	}
	p.cfg.Maps[name] = m
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// headerLine is chompheader for H lines.
func (p *parser) headerLine(l string) {
	s := l[1:]
	h := Header{Line: p.line}
	if strings.HasPrefix(s, "?") {
		end := strings.IndexByte(s[1:], '?')
		if end < 0 {
			p.errorf("header syntax error, line %q", s)
			return
		}
		cond := s[1 : 1+end]
		if strings.HasPrefix(cond, "$") {
			h.Macro = macroKey(cond[1:])
		} else {
			h.Flags = cond
		}
		s = s[end+2:]
	}
	name, val, ok := strings.Cut(s, ":")
	name = strings.TrimRight(name, " \t")
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		p.errorf("header syntax error, line %q", l[1:])
		return
	}
	h.Name = name
	h.Value = strings.TrimLeft(val, " \t\n")
	p.cfg.Headers = append(p.cfg.Headers, h)
}

// rulesetLine is strtorwset on an S line.
func (p *parser) rulesetLine(l string) {
	s := strings.TrimLeft(l[1:], " \t")
	rs := &Ruleset{Number: -1, Line: p.line}
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		n := int(atol(s))
		if n >= 100 {
			p.errorf("bad ruleset %d (100 max)", n)
			return
		}
		rs.Number = n
	} else {
		i := 0
		for i < len(s) && (isAlnum(s[i]) || s[i] == '_') {
			i++
		}
		if i == 0 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
			q := s
			if len(q) > 20 {
				q = q[:20]
			}
			p.errorf("invalid ruleset name: \"%s\"", q)
			return
		}
		rs.Name = s[:i]
		rest := strings.TrimLeft(s[i:], " \t")
		if strings.HasPrefix(rest, "=") {
			num := strings.TrimLeft(rest[1:], " \t")
			if num == "" || num[0] < '0' || num[0] > '9' {
				p.errorf("bad ruleset definition \"%s\" (number required after `=')", s)
				return
			}
			n := int(atol(num))
			if n >= 100 {
				p.errorf("bad ruleset number %d in \"%s\" (100 max)", n, s)
				return
			}
			rs.Number = n
		}
	}
	p.cfg.Rulesets = append(p.cfg.Rulesets, rs)
	p.ruleset = rs
}

// rule keeps an R line as LHS, RHS and comment.
func (p *parser) rule(l string) {
	if p.ruleset == nil {
		p.errorf("missing valid ruleset for \"%s\"", l)
		return
	}
	s := l[1:]
	lhs, rest, _ := strings.Cut(s, "\t")
	rest = strings.TrimLeft(rest, "\t")
	rhs, comment, _ := strings.Cut(rest, "\t")
	if strings.TrimSpace(lhs) == "" {
		p.errorf("R line: null LHS")
		return
	}
	if strings.TrimSpace(rhs) == "" {
		p.errorf("R line: null RHS")
		return
	}
	p.ruleset.Rules = append(p.ruleset.Rules, Rule{LHS: lhs, RHS: rhs, Comment: strings.TrimLeft(comment, "\t"), Line: p.line})
}

// fieldsLine reads an X or Q line: a name, then comma-separated fields.
func (p *parser) fieldsLine(l, what string) (Definition, bool) {
	s := l[1:]
	i := 0
	for i < len(s) && s[i] != ',' && !isSpace(s[i]) {
		i++
	}
	d := Definition{Name: s[:i], Fields: map[byte]string{}, Line: p.line}
	if d.Name == "" {
		p.errorf("name required for %s", what)
		return d, false
	}
	rest := ""
	if i < len(s) {
		rest = s[i+1:]
	}
	for {
		rest = strings.TrimLeft(rest, ", \t\n")
		if rest == "" {
			break
		}
		code := rest[0]
		eq := strings.IndexByte(rest, '=')
		comma := strings.IndexByte(rest, ',')
		if eq < 0 || (comma >= 0 && comma < eq) {
			p.errorf("%s %s: `=' expected", what, d.Name)
			return d, false
		}
		var v string
		v, rest = munch(strings.TrimLeft(rest[eq+1:], " \t\n"), ',', false)
		d.Fields[code] = strings.TrimRight(v, " \t\n")
	}
	return d, true
}

// finish applies what sendmail decides after the whole file is read.
func (p *parser) finish() {
	s := &p.cfg.Settings
	if len(s.DaemonPortOptions) == 0 {
		po := parsePortOptions("", true)
		po.Name = "Daemon0"
		s.DaemonPortOptions = []PortOptions{po}
	}
}
