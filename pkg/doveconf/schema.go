// SPDX-License-Identifier: MIT

package doveconf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// kind is the value type of a setting, as Dovecot's setting parser knows it.
type kind uint8

const (
	kindString kind = iota
	kindBool
	kindUint
	kindOctal
	kindSize
	kindTime
	kindTimeMsecs
	kindPort
	kindEnum
)

// settingDef describes one setting: its key, type, default (as doveconf
// prints it) and, for enums, the allowed values separated by ':'.
type settingDef struct {
	key    string
	kind   kind
	def    string
	enum   string
	hidden bool // shown by -a only when set explicitly
}

// listKind tells how the elements of a section list are named.
type listKind uint8

const (
	listUnique  listKind = iota // elements named by a key (service imap { })
	listIndexed                 // elements numbered by position (passdb { })
	listStrings                 // free key = value pairs (plugin { })
)

// listDef is a section type allowed inside a schema.
type listDef struct {
	key    string
	kind   listKind
	schema *schema
}

// schema is the set of settings and section types of one block.
type schema struct {
	name     string
	typeKey  string // the setting a section name is stored in ("name", "path")
	settings []settingDef
	byKey    map[string]int
	lists    []listDef
	// aliases are other names Dovecot accepts for a setting.
	aliases map[string]string
	// implicit are keys marked as set whenever an element is created by
	// the configuration (namespaces print "location" and "prefix").
	implicit []string
}

func (s *schema) setting(key string) (*settingDef, bool) {
	if a, ok := s.aliases[key]; ok {
		key = a
	}
	i, ok := s.byKey[key]
	if !ok {
		return nil, false
	}
	return &s.settings[i], true
}

func (s *schema) list(key string) (*listDef, bool) {
	for i := range s.lists {
		if s.lists[i].key == key {
			return &s.lists[i], true
		}
	}
	return nil, false
}

// elemDefault is a built-in list element (Dovecot's default services and
// their listeners).
type elemDefault struct {
	list, name string
	vals       [][2]string
	kids       []elemDefault
}

var rootSchema = buildSchemas()

func buildSchemas() *schema {
	mk := func(name, typeKey string) *schema {
		s := &schema{name: name, typeKey: typeKey, settings: generatedSchemas[name], byKey: map[string]int{}}
		for i, d := range s.settings {
			s.byKey[d.key] = i
		}
		return s
	}
	root := mk("root", "")
	svc := mk("service", "name")
	inet := mk("inet_listener", "name")
	unix := mk("unix_listener", "path")
	fifo := mk("fifo_listener", "path")
	ns := mk("namespace", "name")
	mbox := mk("mailbox", "name")
	passdb := mk("passdb", "name")
	userdb := mk("userdb", "name")
	metric := mk("metric", "name")
	exporter := mk("event_exporter", "name")
	strs := &schema{name: "strlist", byKey: map[string]int{}}

	ns.implicit = []string{"location", "prefix"}
	// doveadm_proxy_port is Dovecot's alias of doveadm_port; inside a
	// namespace, mail_location sets its location.
	root.aliases = map[string]string{"doveadm_proxy_port": "doveadm_port"}
	ns.aliases = map[string]string{"mail_location": "location"}
	svc.lists = []listDef{
		{"fifo_listener", listUnique, fifo},
		{"inet_listener", listUnique, inet},
		{"unix_listener", listUnique, unix},
	}
	ns.lists = []listDef{{"mailbox", listUnique, mbox}}
	root.lists = []listDef{
		{"dict", listStrings, strs},
		{"event_exporter", listUnique, exporter},
		{"metric", listUnique, metric},
		{"namespace", listUnique, ns},
		{"passdb", listIndexed, passdb},
		{"plugin", listStrings, strs},
		{"service", listUnique, svc},
		{"userdb", listIndexed, userdb},
	}
	return root
}

// normalize checks value against the setting's type and returns it in the
// form doveconf prints, or Dovecot's error text.
func (d *settingDef) normalize(value string) (string, error) {
	switch d.kind {
	case kindBool:
		switch {
		case strings.EqualFold(value, "yes"), strings.EqualFold(value, "y"), value == "1":
			return "yes", nil
		case strings.EqualFold(value, "no"):
			return "no", nil
		}
		return "", fmt.Errorf("Invalid boolean value: %s (use yes or no)", value)
	case kindUint:
		n, err := parseUint(value)
		if err != nil {
			return "", err
		}
		return strconv.FormatUint(n, 10), nil
	case kindOctal:
		if !strings.HasPrefix(value, "0") {
			n, err := parseUint(value)
			if err != nil {
				return "", err
			}
			return "0" + strconv.FormatUint(n, 8), nil
		}
		n, err := strconv.ParseUint(value, 8, 64)
		if err != nil {
			return "", fmt.Errorf("Invalid number: %s", value)
		}
		return "0" + strconv.FormatUint(n&math.MaxUint32, 8), nil
	case kindPort:
		n, err := strconv.ParseUint(value, 10, 16)
		if err != nil || !allDigits(value) {
			return "", fmt.Errorf("Invalid port number %s", value)
		}
		return strconv.FormatUint(n, 10), nil
	case kindSize:
		n, err := parseSize(value)
		if err != nil {
			return "", err
		}
		return formatSize(n), nil
	case kindTime, kindTimeMsecs:
		ms := d.kind == kindTimeMsecs
		n, err := parseTime(value, ms)
		if err != nil {
			return "", err
		}
		if ms {
			if n%1000 != 0 {
				return strconv.FormatUint(n, 10) + " ms", nil
			}
			n /= 1000
		}
		return formatTime(n), nil
	case kindEnum:
		for _, v := range strings.Split(d.enum, ":") {
			if v == value {
				return value, nil
			}
		}
		return "", fmt.Errorf("Invalid value: %s", value)
	}
	return value, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseUint follows Dovecot's str_to_uint: digits only, within 32 bits.
func parseUint(value string) (uint64, error) {
	if strings.HasPrefix(value, "-") {
		if allDigits(value[1:]) {
			return 0, fmt.Errorf("Invalid number %s: Number too small", value)
		}
		return 0, fmt.Errorf("Invalid number %s: Not a valid number", value)
	}
	if !allDigits(value) {
		return 0, fmt.Errorf("Invalid number %s: Not a valid number", value)
	}
	n, err := strconv.ParseUint(value, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("Invalid number %s: Number too large", value)
	}
	return n, nil
}

// leadingNumber splits the decimal digits at the start of s.
func leadingNumber(s string) (uint64, string, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, s, false
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil {
		return 0, s, false
	}
	return n, s[i:], true
}

func parseSize(str string) (uint64, error) {
	num, p, ok := leadingNumber(str)
	if !ok {
		return 0, fmt.Errorf("Invalid size: %s", str)
	}
	p = strings.TrimLeft(p, " ")
	mult := uint64(1)
	if p != "" {
		switch p[0] | 0x20 {
		case 'b':
			p = p[1:]
		case 'k':
			mult, p = 1<<10, p[1:]
		case 'm':
			mult, p = 1<<20, p[1:]
		case 'g':
			mult, p = 1<<30, p[1:]
		case 't':
			mult, p = 1<<40, p[1:]
		}
	}
	if mult > 1 {
		if p != "" && p[0]|0x20 == 'i' {
			p = p[1:]
		}
		if p != "" && p[0]|0x20 == 'b' {
			p = p[1:]
		}
	}
	if p != "" {
		return 0, fmt.Errorf("Invalid size: %s", str)
	}
	if num > math.MaxUint64/mult {
		return 0, fmt.Errorf("Size is too large: %s", str)
	}
	return num * mult, nil
}

func formatSize(n uint64) string {
	if n == 0 {
		return "0"
	}
	suffixes := "BkMGT"
	i := 0
	for i+1 < len(suffixes) && n%1024 == 0 {
		n /= 1024
		i++
	}
	return strconv.FormatUint(n, 10) + " " + suffixes[i:i+1]
}

// hasFoldPrefix reports whether p is a case-insensitive prefix of word,
// Dovecot's strncasecmp(p, word, strlen(p)) test.
func hasFoldPrefix(word, p string) bool {
	return len(p) <= len(word) && strings.EqualFold(word[:len(p)], p)
}

func parseTime(str string, msecs bool) (uint64, error) {
	num, p, ok := leadingNumber(str)
	if !ok {
		return 0, fmt.Errorf("Invalid time interval: %s", str)
	}
	mult := uint64(1)
	if msecs {
		mult = 1000
	}
	p = strings.TrimLeft(p, " ")
	if p == "" && num != 0 {
		return 0, fmt.Errorf("Time interval '%s' is missing units (add e.g. 's' for seconds)", str)
	}
	if p != "" {
		switch p[0] | 0x20 {
		case 's':
			if hasFoldPrefix("secs", p) || hasFoldPrefix("seconds", p) {
				p = ""
			}
		case 'm':
			mult *= 60
			switch {
			case hasFoldPrefix("mins", p) || hasFoldPrefix("minutes", p):
				p = ""
			case hasFoldPrefix("msecs", p) || hasFoldPrefix("mseconds", p) ||
				hasFoldPrefix("millisecs", p) || hasFoldPrefix("milliseconds", p):
				if !msecs && num%1000 != 0 {
					return 0, fmt.Errorf("Milliseconds not supported for this setting: %s", str)
				}
				if !msecs {
					num /= 1000
				}
				mult, p = 1, ""
			}
		case 'h':
			mult *= 3600
			if hasFoldPrefix("hours", p) {
				p = ""
			}
		case 'd':
			mult *= 86400
			if hasFoldPrefix("days", p) {
				p = ""
			}
		case 'w':
			mult *= 604800
			if hasFoldPrefix("weeks", p) {
				p = ""
			}
		}
	}
	if p != "" {
		return 0, fmt.Errorf("Invalid time interval: %s", str)
	}
	if num > math.MaxUint32/mult {
		return 0, fmt.Errorf("Time interval is too large: %s", str)
	}
	return num * mult, nil
}

func formatTime(n uint64) string {
	if n == 0 {
		return "0"
	}
	suffix := "secs"
	if n%60 == 0 {
		n, suffix = n/60, "mins"
		if n%60 == 0 {
			n, suffix = n/60, "hours"
			if n%24 == 0 {
				n, suffix = n/24, "days"
				if n%7 == 0 {
					n, suffix = n/7, "weeks"
				}
			}
		}
	}
	return strconv.FormatUint(n, 10) + " " + suffix
}

// seconds returns a time value printed by formatTime (or "N ms") as a count
// of milliseconds.
func millis(v string) uint64 {
	num, rest, ok := leadingNumber(v)
	if !ok {
		return 0
	}
	switch strings.TrimSpace(rest) {
	case "ms":
		return num
	case "mins":
		num *= 60
	case "hours":
		num *= 3600
	case "days":
		num *= 86400
	case "weeks":
		num *= 604800
	}
	return num * 1000
}
