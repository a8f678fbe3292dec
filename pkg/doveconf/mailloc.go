// SPDX-License-Identifier: MIT

package doveconf

import (
	"fmt"
	"strconv"
	"strings"
)

// MailLocation is a parsed mail_location: "[driver:]root[:KEY=value...]".
// Empty fields were not given; an empty Root means autodetection.
type MailLocation struct {
	Driver  string // mbox, maildir, sdbox, mdbox, ...; "" = autodetect
	Root    string
	Inbox   string // INBOX=
	Index   string // INDEX= ("MEMORY" keeps indexes in memory)
	Control string // CONTROL=
	Layout  string // LAYOUT= (fs, maildir++, index)
	// Params holds the other KEY=value fields (ALT, INDEXPVT,
	// SUBSCRIPTIONS, DIRNAME, ...) and Flags the bare ones (UTF-8,
	// NO-NOSELECT, ...).
	Params map[string]string
	Flags  []string
}

// mailDrivers are the storage drivers Dovecot 2.3 ships.
var mailDrivers = map[string]bool{
	"mbox": true, "maildir": true, "sdbox": true, "mdbox": true, "dbox": true,
	"imapc": true, "pop3c": true, "raw": true, "shared": true, "cydir": true,
	"virtual": true, "fail": true, "obox": true,
}

var locationKeys = map[string]bool{
	"INBOX": true, "INDEX": true, "INDEXPVT": true, "INDEXCACHE": true, "CONTROL": true,
	"ALT": true, "LAYOUT": true, "SUBSCRIPTIONS": true, "DIRNAME": true, "MAILBOXDIR": true,
	"VOLATILEDIR": true, "FULLDIRNAME": true, "LISTINDEX": true, "BROKENCHARS": true,
}

var locationFlags = map[string]bool{
	"UTF-8": true, "NO-NOSELECT": true, "ITERINDEX": true, "NO-NOSELECT=": true,
}

// ParseMailLocation splits a mail_location value. "::" stands for a literal
// ':' inside a field, as in Dovecot.
func ParseMailLocation(s string) (MailLocation, error) {
	var loc MailLocation
	if i := strings.IndexByte(s, ':'); i >= 0 && mailDrivers[s[:i]] {
		loc.Driver, s = s[:i], s[i+1:]
	} else if mailDrivers[s] {
		loc.Driver, s = s, ""
	}
	var fields []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			if i+1 < len(s) && s[i+1] == ':' {
				cur.WriteByte(':')
				i++
				continue
			}
			fields = append(fields, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(s[i])
	}
	fields = append(fields, cur.String())
	loc.Root = fields[0]
	for _, f := range fields[1:] {
		key, value, hasValue := strings.Cut(f, "=")
		switch {
		case f == "":
			continue
		case !hasValue && locationFlags[key]:
			loc.Flags = append(loc.Flags, key)
			continue
		case !hasValue || !locationKeys[key]:
			return MailLocation{}, fmt.Errorf("mail_location: Unknown setting: %s", key)
		}
		switch key {
		case "INBOX":
			loc.Inbox = value
		case "INDEX":
			loc.Index = value
		case "CONTROL":
			loc.Control = value
		case "LAYOUT":
			loc.Layout = value
		default:
			if loc.Params == nil {
				loc.Params = map[string]string{}
			}
			loc.Params[key] = value
		}
	}
	return loc, nil
}

// Vars are the values of Dovecot's %-variables for one user and session.
type Vars struct {
	User     string // %u, %{user}: the full user name
	Home     string // %h, %{home}, and ~
	Service  string // %s, %{service}
	LocalIP  string // %l, %{lip}
	RemoteIP string // %r, %{rip}
	PID      string // %p, %{pid}
	Session  string // %{session}
}

// Expand returns the location with %-variables and a leading ~ expanded in
// every path field.
func (m MailLocation) Expand(v Vars) (MailLocation, error) {
	out := m
	var firstErr error
	exp := func(s string) string {
		r, err := ExpandVars(s, v)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return HomeExpand(r, v.Home)
	}
	out.Root, out.Inbox, out.Index, out.Control = exp(m.Root), exp(m.Inbox), exp(m.Index), exp(m.Control)
	if m.Params != nil {
		out.Params = map[string]string{}
		for k, val := range m.Params {
			out.Params[k] = exp(val)
		}
	}
	return out, firstErr
}

// HomeExpand replaces a leading "~" or "~/" by home.
func HomeExpand(s, home string) string {
	switch {
	case s == "~":
		return home
	case strings.HasPrefix(s, "~/"):
		return strings.TrimSuffix(home, "/") + s[1:]
	}
	return s
}

var longVars = map[string]byte{
	"user": 'u', "username": 'n', "domain": 'd', "home": 'h', "service": 's',
	"lip": 'l', "rip": 'r', "pid": 'p',
}

func (v Vars) lookup(name string) (string, bool) {
	switch name {
	case "u":
		return v.User, true
	case "n":
		n, _, _ := strings.Cut(v.User, "@")
		return n, true
	case "d":
		_, d, _ := strings.Cut(v.User, "@")
		return d, true
	case "h":
		return v.Home, true
	case "s":
		return v.Service, true
	case "l":
		return v.LocalIP, true
	case "r":
		return v.RemoteIP, true
	case "p":
		return v.PID, true
	case "session":
		return v.Session, true
	}
	if c, ok := longVars[name]; ok {
		return v.lookup(string(c))
	}
	return "", false
}

// ExpandVars expands Dovecot's %-variables: %u %n %d %h %s %l %r %p, the
// long forms %{user} %{username} %{domain} %{home} %{service} %{lip}
// %{rip} %{pid} %{session}, %% for '%', the modifiers L (lower case) and
// U (upper case), and widths %Nx (first N characters, negative N the last
// ones) and %M.Nx (N characters from offset M). An unknown variable is
// left as written and reported.
func ExpandVars(s string, v Vars) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	var firstErr error
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		start := i
		j := i + 1
		// width: [-]N[.N]
		neg := false
		if s[j] == '-' {
			neg = true
			j++
		}
		offset, width := 0, -1
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			width, _ = strconv.Atoi(s[j:k])
			j = k
			if j < len(s) && s[j] == '.' {
				k = j + 1
				for k < len(s) && s[k] >= '0' && s[k] <= '9' {
					k++
				}
				offset, width = width, 0
				width, _ = strconv.Atoi(s[j+1 : k])
				j = k
			}
		}
		lower, upper := false, false
		for j < len(s) && (s[j] == 'L' || s[j] == 'U') {
			lower, upper = s[j] == 'L', s[j] == 'U'
			j++
		}
		if j >= len(s) {
			b.WriteString(s[start:])
			break
		}
		var name string
		if s[j] == '{' {
			end := strings.IndexByte(s[j:], '}')
			if end < 0 {
				b.WriteString(s[start:])
				break
			}
			name = s[j+1 : j+end]
			j += end
		} else {
			name = s[j : j+1]
		}
		i = j
		if name == "%" {
			b.WriteByte('%')
			continue
		}
		val, ok := v.lookup(name)
		if !ok {
			if firstErr == nil {
				firstErr = fmt.Errorf("unknown variable %s", s[start:j+1])
			}
			b.WriteString(s[start : j+1])
			continue
		}
		if offset > 0 {
			if offset >= len(val) {
				val = ""
			} else {
				val = val[offset:]
			}
		}
		if width >= 0 {
			if neg {
				if width < len(val) {
					val = val[len(val)-width:]
				}
			} else if width < len(val) {
				val = val[:width]
			}
		}
		switch {
		case lower:
			val = strings.ToLower(val)
		case upper:
			val = strings.ToUpper(val)
		}
		b.WriteString(val)
	}
	return b.String(), firstErr
}
