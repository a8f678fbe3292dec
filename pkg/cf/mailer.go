// SPDX-License-Identifier: MIT

package cf

import (
	"strconv"
	"strings"
	"time"
)

// Mailer is an M line.
type Mailer struct {
	Name string
	// Path is P= ("[IPC]" for network mailers).
	Path string
	// Flags are the F= letters.
	Flags string
	// Sender and Recipient rulesets (S= and R=): envelope and header,
	// split at "/" (a single name serves both).
	SenderEnvelope, SenderHeader       string
	RecipientEnvelope, RecipientHeader string
	// Argv is A= split at blanks, macros unexpanded.
	Argv []string
	// EOL is E= with \r, \n, \t and \\ unescaped.
	EOL string
	// MaxMessageSize (M=), MaxMessages per connection (m=),
	// MaxRecipients per envelope (r=), LineLimit (L=), Nice (N=).
	MaxMessageSize int64
	MaxMessages    int
	MaxRecipients  int
	LineLimit      int
	Nice           int
	// Dirs are the D= working directories (colon-separated).
	Dirs []string
	// User is U= (user[:group]), Charset C=, Queue Q=, Root "/=".
	User, Charset, Queue, Root string
	// DSNTypes is T= (MTA-type/address-type/diagnostic-type).
	DSNTypes string
	// Wait is W=.
	Wait time.Duration
	// Fields holds every field as written, by its first letter.
	Fields map[byte]string
	Line   int
}

// HasFlag reports whether F= contains c.
func (m *Mailer) HasFlag(c byte) bool { return strings.IndexByte(m.Flags, c) >= 0 }

// munch is sendmail's munchstring: up to delim outside double quotes,
// quotes removed, a backslash making the next character literal. Mailer
// fields keep the backslash (keepBS) so that E=\r\n can be unescaped.
func munch(s string, delim byte, keepBS bool) (val, rest string) {
	var b strings.Builder
	quote, bs := false, false
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case bs:
			if keepBS {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
			bs = false
		case c == '\\':
			bs = true
		case c == '"':
			quote = !quote
		case quote || c != delim || delim == 0:
			b.WriteByte(c)
		default:
			return b.String(), s[i+1:]
		}
	}
	return b.String(), ""
}

// unescape turns \r, \n, \t, \\ and \" into their characters.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'r':
				b.WriteByte('\r')
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// mailerLine is makemailer.
func (p *parser) mailerLine(l string) {
	s := l[1:]
	i := 0
	for i < len(s) && s[i] != ',' && !isSpace(s[i]) {
		i++
	}
	name := s[:i]
	if name == "" {
		p.errorf("name required for mailer")
		return
	}
	m := &Mailer{Name: name, Fields: map[byte]string{}, Line: p.line}
	rest := ""
	if i < len(s) {
		rest = s[i+1:]
	}
	for {
		j := 0
		for j < len(rest) && (rest[j] == ',' || isSpace(rest[j])) {
			j++
		}
		rest = rest[j:]
		if rest == "" {
			break
		}
		code := rest[0]
		j = 0
		for j < len(rest) && rest[j] != '=' && rest[j] != ',' {
			j++
		}
		if j >= len(rest) || rest[j] != '=' {
			p.errorf("mailer %s: `=' expected", name)
			return
		}
		rest = rest[j+1:]
		for rest != "" && isSpace(rest[0]) {
			rest = rest[1:]
		}
		var val string
		val, rest = munch(rest, ',', true)
		val = strings.TrimRight(val, " \t\n")
		m.Fields[code] = val
		switch code {
		case 'P':
			m.Path = val
		case 'F':
			m.Flags += val
		case 'S':
			m.SenderEnvelope, m.SenderHeader = splitRW(val)
		case 'R':
			m.RecipientEnvelope, m.RecipientHeader = splitRW(val)
		case 'E':
			m.EOL = unescape(val)
		case 'A':
			m.Argv = strings.Fields(val)
		case 'M':
			m.MaxMessageSize = atol(val)
		case 'm':
			m.MaxMessages = int(atol(val))
		case 'r':
			m.MaxRecipients = int(atol(val))
		case 'L':
			m.LineLimit = int(atol(val))
		case 'N':
			m.Nice = int(atol(val))
		case 'D':
			m.Dirs = strings.Split(val, ":")
		case 'U':
			m.User = val
			u, g := splitUserGroup(val)
			p.checkUser(u, g, "readcf: mailer U= flag: unknown user %s", "readcf: mailer U= flag: unknown group %s")
		case 'C':
			m.Charset = val
		case 'T':
			m.DSNTypes = val
		case 'W':
			m.Wait = p.convtime(val, 's')
		case 'Q':
			m.Queue = val
			if !p.queueKnown(val) {
				p.errorf("mailer %s: unknown queue %s", name, val)
			}
		case '/':
			m.Root = val
		default:
			p.errorf("M%s: unknown mailer equate %c=", name, code)
		}
	}
	if m.Path == "" {
		p.errorf("M%s: P= argument required", name)
		return
	}
	if len(m.Argv) == 0 {
		p.errorf("M%s: A= argument required", name)
		return
	}
	if m.Path == "[IPC]" && len(m.Argv) < 2 {
		p.errorf("M%s: too few parameters for [IPC] mailer", name)
	}
	if _, dup := p.cfg.Mailers[name]; !dup {
		p.cfg.MailerOrder = append(p.cfg.MailerOrder, name)
	}
	p.cfg.Mailers[name] = m
}

func splitRW(v string) (env, hdr string) {
	e, h, ok := strings.Cut(v, "/")
	if !ok {
		return v, v
	}
	return e, h
}

func (p *parser) queueKnown(name string) bool {
	if name == "mqueue" {
		return true
	}
	for _, q := range p.cfg.QueueGroups {
		if q.Name == name {
			return true
		}
	}
	return false
}

// priorityLine is "Pname=number".
func (p *parser) priorityLine(l string) {
	name, val, ok := strings.Cut(l[1:], "=")
	if !ok {
		p.errorf("Priority (P) line missing '=': %s", l)
		return
	}
	p.cfg.Priorities[strings.TrimSpace(name)] = int(atol(val))
}

// versionLine is "Vlevel[/vendor]".
func (p *parser) versionLine(l string) {
	lvl, vendor, hasVendor := strings.Cut(l[1:], "/")
	p.cfg.Version = int(atol(lvl))
	if hasVendor {
		vendor = strings.TrimSpace(vendor)
		p.cfg.Vendor = vendor
		if !strings.EqualFold(vendor, "Berkeley") && !strings.EqualFold(vendor, "Sendmail") {
			p.errorf("invalid V line vendor code: \"%s\"", vendor)
		}
	}
	if p.cfg.Version > 10 {
		p.cfg.Warnings = append(p.cfg.Warnings, "Warning: .cf version level ("+strconv.Itoa(p.cfg.Version)+") exceeds sendmail version 8.17.1.9 functionality (10)")
	}
}
