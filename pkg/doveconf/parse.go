// SPDX-License-Identifier: MIT

package doveconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Error is a configuration error, shaped like doveconf's: with File and
// Line it reads "Error in configuration file <f> line <n>: <msg>"; errors
// found after the whole tree was read (a missing '}', failed checks) have
// no line.
type Error struct {
	File string
	Line int
	Msg  string
	// Messages are the warnings logged before a fatal error while
	// reading (see Config.Messages).
	Messages []string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("Error in configuration file %s line %d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("Error in configuration file %s: %s", e.File, e.Msg)
}

var errUnknown = errors.New("unknown setting")

// maxIncludeDepth bounds nested includes; Dovecot only refuses recursion,
// but a bound keeps a hostile tree from exhausting memory.
const maxIncludeDepth = 64

// authKeys are the root settings owned by Dovecot's auth process, which
// local/remote blocks may not change.
var authKeys = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range strings.Fields(`mechanisms realms default_realm cache_size cache_ttl
		cache_negative_ttl cache_verify_password_with_worker username_chars username_translation
		username_format master_user_separator anonymous_username krb5_keytab gssapi_hostname
		winbind_helper_path proxy_self failure_delay policy_server_url policy_server_api_header
		policy_server_timeout_msecs policy_hash_mech policy_hash_nonce policy_request_attributes
		policy_reject_on_fail policy_check_before_auth policy_check_after_auth
		policy_report_after_auth policy_log_only policy_hash_truncate stats verbose debug
		debug_passwords verbose_passwords ssl_require_client_cert ssl_username_from_cert
		use_winbind worker_max_count`) {
		m["auth_"+k] = true
	}
	for _, k := range strings.Fields(`passdb userdb base_dir verbose_proctitle first_valid_uid
		last_valid_uid first_valid_gid last_valid_gid ssl_client_ca_dir ssl_client_ca_file`) {
		m[k] = true
	}
	return m
}()

type input struct {
	path  string
	lines []string
	pos   int
}

type frame struct {
	key       string // section type as written ("" for the top)
	isFilter  bool
	scope     *scope
	node      *node     // block receiving settings
	strs      *elemList // string list receiving pairs
	bogus     bool      // a plain setting opened as a section: nothing fits inside
	inAuth    bool      // inside passdb/userdb
	path      string    // Dovecot's internal key prefix, e.g. "service/imap/"
	openPath  string
	openLine  int
	lineCount int
}

type parser struct {
	opts    Options
	cfg     *Config
	inputs  []*input
	frames  []*frame
	counter int
	seen    map[string]string
	full    strings.Builder // continued line

	seenObsolete bool
	lineNo       int
}

// Options change how a configuration is read. The zero value reads it as
// doveconf -n and -a do.
type Options struct {
	// Expand replaces "<file" values by the file's contents and $name
	// references by the setting's value (or $ENV:NAME by the
	// environment), as doveconf -x and Dovecot's running processes see
	// them.
	Expand bool
}

// Load reads the configuration file at path and everything it includes.
// A non-nil *Config with a non-nil error means the tree was read but is
// invalid as a whole (an unclosed section, a failed check): doveconf still
// prints such a configuration before failing.
func Load(path string, opts Options) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// doveconf's own wording, with strerror's text.
		return nil, fmt.Errorf("open(%s) failed: %s", path, errnoText(err))
	}
	return parseData(data, path, opts)
}

// Parse reads a configuration from r as if it were the file path
// (includes are resolved relative to path's directory).
func Parse(r io.Reader, path string, opts Options) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return parseData(data, path, opts)
}

func splitLines(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	parts := bytes.Split(data, []byte{'\n'})
	if len(parts[len(parts)-1]) == 0 {
		parts = parts[:len(parts)-1]
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = strings.TrimSuffix(string(p), "\r")
	}
	return out
}

func parseData(data []byte, path string, opts Options) (*Config, error) {
	global := &scope{root: newRootNode()}
	cfg := &Config{Path: path, scopes: []*scope{global}}
	p := &parser{opts: opts, cfg: cfg, seen: map[string]string{}}
	p.inputs = []*input{{path: path, lines: splitLines(data)}}
	p.frames = []*frame{{scope: global, node: global.root}}
	for len(p.inputs) > 0 {
		in := p.inputs[len(p.inputs)-1]
		if in.pos >= len(in.lines) {
			p.inputs = p.inputs[:len(p.inputs)-1]
			continue
		}
		line := in.lines[in.pos]
		in.pos++
		if msg := p.line(in, line); msg != "" {
			return nil, &Error{File: in.path, Line: in.pos, Msg: msg, Messages: cfg.Messages}
		}
	}
	if len(p.frames) > 1 {
		f := p.frames[len(p.frames)-1]
		// doveconf still checks the settings while printing them.
		cfg.exportCheck()
		return cfg, &Error{File: path, Msg: fmt.Sprintf("Missing '}' (section started at %s:%d)", f.openPath, f.openLine)}
	}
	if err := cfg.check(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func (p *parser) warn(msg string) { p.cfg.Messages = append(p.cfg.Messages, "Warning: "+msg) }

func isWhite(c byte) bool { return c == ' ' || c == '\t' }

// line handles one physical line; it returns an error message or "".
func (p *parser) line(in *input, line string) string {
	line = strings.TrimLeft(line, " \t")
	if line == "" || line[0] == '#' {
		p.full.Reset()
		return ""
	}
	// Strip the comment: '#' outside quotes ends the line.
scan:
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case '\'', '"':
			j := i + 1
			for ; j < len(line) && line[j] != c; j++ {
				if line[j] == '\\' && j+1 < len(line) {
					j++
				}
			}
			if j >= len(line) {
				break scan
			}
			i = j
		case '#':
			if !isWhite(line[i-1]) {
				p.warn(fmt.Sprintf("Configuration file %s line %d: Ambiguous '#' character in line, treating it as comment. Add a space before it to remove this warning.", in.path, in.pos))
			}
			line = line[:i]
			break scan
		}
	}
	line = strings.TrimRight(line, " \t")
	if strings.HasSuffix(line, "\\") {
		rest := strings.TrimRight(line[:len(line)-1], " \t")
		if rest != "" {
			p.full.WriteString(rest)
			p.full.WriteByte(' ')
		}
		return ""
	}
	if p.full.Len() > 0 {
		p.full.WriteString(line)
		line = p.full.String()
	}
	p.full.Reset()

	// key: up to blank, '=' or end
	k := 0
	for k < len(line) && !isWhite(line[k]) && line[k] != '=' {
		k++
	}
	key, rest := line[:k], line[k:]
	rest = strings.TrimLeft(rest, " \t")
	blankAfterKey := k < len(line) && isWhite(line[k])

	// Dovecot compares the key before cutting it at '=': "!include=x"
	// is a setting named "!include", not an include.
	if (key == "!include" || key == "!include_try") && (blankAfterKey || k == len(line)) {
		return p.include(in, rest, key == "!include_try")
	}
	if strings.HasPrefix(rest, "=") {
		value := strings.TrimLeft(rest[1:], " \t")
		return p.assign(in, key, value)
	}
	if key == "}" && rest == "" {
		if len(p.frames) == 1 {
			return "Unexpected '}'"
		}
		p.frames = p.frames[:len(p.frames)-1]
		return ""
	}
	if !blankAfterKey && key != "" {
		// Dovecot overwrites the character before the value with NUL.
		key = key[:len(key)-1]
	}
	var name string
	switch {
	case strings.HasPrefix(rest, "{"):
	case strings.HasPrefix(rest, `"`):
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return "Expecting '{'"
		}
		name = unescape(rest[1 : 1+end])
		rest = strings.TrimLeft(rest[2+end:], " \t")
	default:
		e := 0
		for e < len(rest) && !isWhite(rest[e]) {
			e++
		}
		name = rest[:e]
		rest = strings.TrimLeft(rest[e:], " \t")
	}
	if !strings.HasPrefix(rest, "{") {
		return "Expecting '{'"
	}
	if rest != "{" {
		return "Garbage after '{'"
	}
	return p.section(in, key, name)
}

// unescape removes backslash escapes (Dovecot's str_unescape).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			if i == len(s) {
				break
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (p *parser) top() *frame { return p.frames[len(p.frames)-1] }

// fullPath names a key with its enclosing sections, as Dovecot's "Unknown
// setting" message does ("service { inet_listener { prot").
func (p *parser) fullPath(key string) string {
	var b strings.Builder
	for _, f := range p.frames[1:] {
		if !f.isFilter && f.key != "" {
			b.WriteString(f.key)
			b.WriteString(" { ")
		}
	}
	b.WriteString(key)
	return b.String()
}

// Kinds of "key = value" lines, as Dovecot's parser tells them apart.
const (
	lineValue    = iota // plain or quoted value
	lineFile            // <file
	lineVariable        // contains $ and does not start with a quote
)

func (p *parser) assign(in *input, key, raw string) string {
	typ, value := lineValue, raw
	switch {
	case strings.HasPrefix(raw, "<"):
		typ, value = lineFile, strings.TrimLeft(raw[1:], " \t")
	case raw != "" && raw[0] != '"' && raw[0] != '\'' && strings.Contains(raw, "$"):
		typ = lineVariable
	case len(raw) > 0 && (raw[0] == '"' || raw[0] == '\'') && raw[len(raw)-1] == raw[0]:
		if len(raw) == 1 {
			value = ""
		} else {
			value = unescape(raw[1 : len(raw)-1])
		}
	}
	if typ == lineValue {
		if handled, msg := p.oldSetting(in, key, value); handled {
			return msg
		}
	}
	return p.apply(in, typ, key, value)
}

// apply stores one setting line in the current section.
func (p *parser) apply(in *input, typ int, key, value string) string {
	f := p.top()
	full := f.path + key
	if len(p.frames) == 1 {
		if first, ok := p.seen[full]; ok {
			p.warn(fmt.Sprintf("%s line %d: Global setting %s won't change the setting inside an earlier filter at %s (if this is intentional, avoid this warning by moving the global setting before %s)", in.path, in.pos, key, first, first))
		}
	} else if _, ok := p.seen[full]; !ok {
		p.seen[full] = fmt.Sprintf("%s line %d", in.path, in.pos)
	}
	switch typ {
	case lineFile:
		if !p.opts.Expand {
			value = "<" + value
			break
		}
		path := value
		if !strings.HasPrefix(path, "/") {
			if i := strings.LastIndexByte(in.path, '/'); i >= 0 {
				path = in.path[:i+1] + path
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Sprintf("%s: Can't open file %s: %s", full, path, errnoText(err))
		}
		value = string(data)
	case lineVariable:
		v, msg := p.expand(key, value)
		if msg != "" {
			return msg
		}
		value = v
	}
	if key == "" {
		return "Missing key name ('=' at the beginning of line)"
	}
	switch {
	case f.bogus:
		return "Unknown setting: " + p.fullPath(key)
	case f.strs != nil:
		f.strs.setStr(key, value)
		return ""
	}
	if _, ok := f.node.schema.setting(key); !ok {
		if ld, ok := f.node.schema.list(key); ok && ld.kind == listStrings {
			// "plugin = a b" only creates empty string lists.
			return ""
		} else if ok {
			// "namespace = a b" creates elements, as Dovecot's list
			// settings do.
			for _, name := range strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
				if msg := p.element(nil, ld, key, sectionEscape(name), name, false); msg != "" {
					return msg
				}
			}
			return ""
		}
		return "Unknown setting: " + p.fullPath(key)
	}
	if err := f.node.set(key, value); err != nil {
		return err.Error()
	}
	if f.scope.filter.isLocalRemote() && (f.inAuth || (f.node == f.scope.root && authKeys[key])) {
		return "Auth settings not supported inside local/remote blocks: " + key
	}
	return ""
}

// expand handles a value holding '$': only "key = $key ..." self-references
// are expanded when reading (doveconf -n shows the others unexpanded).
func (p *parser) expand(key, value string) (string, string) {
	var b strings.Builder
	for {
		tok := value
		end := strings.IndexByte(value, ' ')
		if end >= 0 {
			tok = value[:end]
		}
		switch {
		case strings.HasPrefix(tok, "$") && tok[1:] == key:
			v, ok := p.lookupVar(key)
			if !ok {
				return "", "Unknown variable: " + tok
			}
			b.WriteString(v)
		case !p.opts.Expand || !strings.HasPrefix(tok, "$"):
			b.WriteString(tok)
		case strings.HasPrefix(tok, "$ENV:"):
			b.WriteString(os.Getenv(tok[5:]))
		default:
			// Another setting of the current block, set or not.
			name := tok[1:]
			if _, ok := rootSchema.setting(name); ok {
				b.WriteString(p.top().scope.root.value(name))
			} else if _, ok := rootSchema.list(name); ok {
				return "", "Invalid variable: " + tok
			} else {
				return "", "Unknown variable: " + tok
			}
		}
		if end < 0 {
			break
		}
		b.WriteByte(' ')
		value = strings.TrimLeft(value[end:], " \t")
	}
	return b.String(), ""
}

// lookupVar finds a root setting's value for a self-reference: the innermost
// filter that changed it, else the global value.
func (p *parser) lookupVar(key string) (string, bool) {
	if _, ok := rootSchema.setting(key); !ok {
		return "", false
	}
	for i := len(p.frames) - 1; i >= 1; i-- {
		if r := p.frames[i].scope.root; r.changed[key] {
			return r.value(key), true
		}
	}
	return p.frames[0].scope.root.value(key), true
}

func (p *parser) section(in *input, key, name string) string {
	parent := p.top()
	if parent.path == "" {
		switch {
		case key == "protocol" && name == "managesieve":
			p.obsolete(in, "protocol managesieve {} has been replaced by protocol sieve { }")
			name = "sieve"
		case key == "service" && name == "dns_client":
			p.obsolete(in, "service dns_client {} has been replaced by service dns-client { }")
			name = "dns-client"
		}
	}
	f := &frame{key: key, scope: parent.scope, node: parent.node, path: parent.path, inAuth: parent.inAuth, openPath: in.path, openLine: in.pos}
	p.frames = append(p.frames, f)

	switch key {
	case "protocol", "local", "remote", "local_name":
		return p.filterSection(f, parent, key, name)
	}
	switch {
	case parent.bogus:
		return "Unknown setting: " + p.fullPath(key)
	case parent.strs != nil:
		return "Section not allowed here"
	}
	ekey := name
	if name == "" {
		ekey = strconv.Itoa(p.counter)
		p.counter++
	} else {
		ekey = sectionEscape(name)
	}
	f.path = parent.path + key + "/" + ekey + "/"
	if ld, ok := parent.node.schema.list(key); ok {
		if ld.kind == listStrings {
			f.strs = parent.node.list(key)
			f.node = nil
			return ""
		}
		if msg := p.element(f, ld, key, ekey, name, true); msg != "" {
			return msg
		}
		if key == "passdb" || key == "userdb" {
			f.inAuth = true
			if f.scope.filter.isLocalRemote() {
				return "Auth settings not supported inside local/remote blocks: " + key
			}
		}
		return ""
	}
	if _, ok := parent.node.schema.setting(key); ok {
		// A plain setting opened as a section takes the section's
		// name as its value; nothing is valid inside it.
		if err := parent.node.set(key, ekey); err != nil {
			return err.Error()
		}
		f.bogus = true
		return ""
	}
	return "Unknown setting: " + p.fullPath(key)
}

// element finds or creates the list element keyed ekey and makes f (when
// not nil) point into it. A section names the element (setName); a list
// setting ("namespace = a b") only creates unnamed ones.
func (p *parser) element(f *frame, ld *listDef, key, ekey, name string, setName bool) string {
	parent := p.top()
	if f != nil && len(p.frames) > 1 {
		parent = p.frames[len(p.frames)-2]
	}
	l := parent.node.list(key)
	e := l.find(ekey)
	if e != nil && ld.kind == listIndexed {
		return parent.path + key + "/" + ekey + " already exists"
	}
	if e == nil {
		e = newNode(ld.schema)
		e.ekey = ekey
		for _, k := range ld.schema.implicit {
			e.changed[k] = true
		}
		l.elems = append(l.elems, e)
	}
	if setName && ld.schema.typeKey != "" {
		e.vals[ld.schema.typeKey] = name
		e.changed[ld.schema.typeKey] = true
	}
	if f != nil {
		f.node = e
	}
	return ""
}

func (p *parser) filterSection(f, parent *frame, key, value string) string {
	flt := parent.scope.filter
	switch key {
	case "protocol":
		if flt.protocol != "" {
			return "Nested protocol { protocol { .. } } block not allowed"
		}
		flt.protocol = value
	case "local":
		switch {
		case flt.remoteBits > 0:
			return "remote { local { .. } } not allowed (use local { remote { .. } } instead)"
		case flt.protocol != "":
			return "protocol { local { .. } } not allowed (use local { protocol { .. } } instead)"
		case flt.localName != "":
			return "local_name { local { .. } } not allowed (use local { local_name { .. } } instead)"
		}
		pfx, bits, msg := parseNet(value)
		if msg != "" {
			return msg
		}
		if flt.localBits > bits || (flt.localBits > 0 && !netContains(flt.local, flt.localBits, pfx)) {
			return "local net1 { local net2 { .. } } requires net2 to be inside net1"
		}
		flt.local, flt.localBits = pfx, bits
	case "local_name":
		switch {
		case flt.remoteBits > 0:
			return "remote { local_name { .. } } not allowed (use local_name { remote { .. } } instead)"
		case flt.protocol != "":
			return "protocol { local_name { .. } } not allowed (use local_name { protocol { .. } } instead)"
		}
		flt.localName = value
	case "remote":
		if flt.protocol != "" {
			return "protocol { remote { .. } } not allowed (use remote { protocol { .. } } instead)"
		}
		pfx, bits, msg := parseNet(value)
		if msg != "" {
			return msg
		}
		if flt.remoteBits > bits || (flt.remoteBits > 0 && !netContains(flt.remote, flt.remoteBits, pfx)) {
			return "remote net1 { remote net2 { .. } } requires net2 to be inside net1"
		}
		flt.remote, flt.remoteBits = pfx, bits
	}
	f.isFilter = true
	var sc *scope
	for _, s := range p.cfg.scopes {
		if s.filter.equal(flt) {
			sc = s
			break
		}
	}
	if sc == nil {
		sc = &scope{filter: flt, root: newRootNode(), where: fmt.Sprintf("%s:%d", f.openPath, f.openLine)}
		p.cfg.scopes = append(p.cfg.scopes, sc)
	}
	f.scope, f.node = sc, sc.root
	if parent.path != "" {
		// A filter inside a section keeps the section's path: Dovecot
		// looks it up in the filter's own settings, where only the
		// built-in elements (the default services) exist.
		f.node = resolvePath(sc.root, parent.path)
		f.strs = nil
		f.bogus = f.node == nil
	}
	return ""
}

// resolvePath finds the list element at an internal path such as
// "service/imap-login/inet_listener/imap/".
func resolvePath(n *node, path string) *node {
	parts := strings.Split(strings.TrimSuffix(path, "/"), "/")
	for len(parts) >= 2 {
		ld, ok := n.schema.list(parts[0])
		if !ok || ld.kind != listUnique {
			return nil
		}
		e := n.list(parts[0]).find(parts[1])
		if e == nil {
			return nil
		}
		n, parts = e, parts[2:]
	}
	if len(parts) != 0 {
		return nil
	}
	return n
}

// parseNet parses "ip[/bits]". Dovecot resolves host names here; this
// parser never does DNS and refuses them.
func parseNet(value string) (netip.Prefix, int, string) {
	host, bitsStr, hasBits := strings.Cut(value, "/")
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}, 0, fmt.Sprintf("gethostbyname(%s) failed: Unknown host", host)
	}
	bits := addr.BitLen()
	if hasBits {
		n, err := strconv.Atoi(bitsStr)
		if err != nil || !allDigits(bitsStr) || n > addr.BitLen() {
			return netip.Prefix{}, 0, "Invalid network mask: " + bitsStr
		}
		bits = n
	}
	return netip.PrefixFrom(addr, bits), bits, ""
}

func netContains(outer netip.Prefix, bits int, inner netip.Prefix) bool {
	o, err := outer.Addr().Prefix(bits)
	if err != nil {
		return false
	}
	return o.Contains(inner.Addr())
}

func (p *parser) include(in *input, pattern string, try bool) string {
	if !strings.HasPrefix(pattern, "/") {
		if i := strings.LastIndexByte(in.path, '/'); i >= 0 {
			pattern = in.path[:i+1] + pattern
		}
	}
	matches := globBraces(pattern)
	if len(matches) == 0 {
		if try {
			return ""
		}
		return "No matches"
	}
	var pushed []*input
	for _, m := range matches {
		for _, open := range p.inputs {
			if open.path == m {
				return "Recursive include file: " + m
			}
		}
		if len(p.inputs)+len(pushed) >= maxIncludeDepth {
			return "Recursive include file: " + m
		}
		data, err := os.ReadFile(m)
		if err != nil {
			if fi, serr := os.Stat(m); serr == nil && fi.IsDir() {
				// Dovecot opens a directory and reads nothing from it.
				data = nil
			} else if try {
				continue
			} else {
				return fmt.Sprintf("Couldn't open include file %s: %s", m, errnoText(err))
			}
		}
		pushed = append(pushed, &input{path: m, lines: splitLines(data)})
	}
	for i := len(pushed) - 1; i >= 0; i-- {
		p.inputs = append(p.inputs, pushed[i])
	}
	return ""
}

// globBraces expands a pattern as glob(3) with GLOB_BRACE does: each
// {a,b} alternative in turn, each one's matches sorted.
func globBraces(pattern string) []string {
	open := strings.IndexByte(pattern, '{')
	if open >= 0 {
		depth := 0
		var alts []string
		start := open + 1
		for i := open; i < len(pattern); i++ {
			switch pattern[i] {
			case '{':
				depth++
			case ',':
				if depth == 1 {
					alts = append(alts, pattern[start:i])
					start = i + 1
				}
			case '}':
				depth--
				if depth == 0 {
					alts = append(alts, pattern[start:i])
					var out []string
					for _, a := range alts {
						out = append(out, globBraces(pattern[:open]+a+pattern[i+1:])...)
					}
					return out
				}
			}
		}
	}
	m, err := filepath.Glob(pattern)
	if err != nil {
		return nil
	}
	return m
}

// errnoText gives the strerror text of an *os.PathError, as %m prints it.
func errnoText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		s := pe.Err.Error()
		if s != "" {
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	return err.Error()
}
