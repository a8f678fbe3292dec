// SPDX-License-Identifier: MIT

package mbox

import (
	"bytes"
	"strings"
	"time"
)

var monthNames = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

var weekdayNames = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// at returns b[i], or 0 past the end, so the grammar below can look ahead
// without bounds checks cluttering it (Dovecot reads into its buffer there).
func at(b []byte, i int) byte {
	if i < 0 || i >= len(b) {
		return 0
	}
	return b[i]
}

func parseMonth(b []byte, i int) (time.Month, bool) {
	if i+3 > len(b) {
		return 0, false
	}
	m := -1
	for k, name := range monthNames {
		if strings.EqualFold(name, string(b[i:i+3])) {
			m = k
			break
		}
	}
	if m < 0 && string(b[i:i+3]) == "???" {
		// Dovecot accepts "???" as January.
		m = 0
	}
	if m < 0 || at(b, i+3) != ' ' {
		return 0, false
	}
	return time.Month(m + 1), true
}

func parseYear(b []byte, i int) (int, bool) {
	if !isDigit(at(b, i)) || !isDigit(at(b, i+1)) || !isDigit(at(b, i+2)) || !isDigit(at(b, i+3)) {
		return 0, false
	}
	return int(b[i]-'0')*1000 + int(b[i+1]-'0')*100 + int(b[i+2]-'0')*10 + int(b[i+3]-'0'), true
}

// parseFromLine parses the text after "From " of a From_ line with the
// grammar of Dovecot 2.3's mbox_from_parse (see dovecot-mbox.md §2.2):
// sender, then a ctime-like or RFC 2822-like date, with a numeric zone after
// the year applied and a zone word before the year ignored. line may include
// the line end. Dates without an applied zone are read in loc.
func parseFromLine(line []byte, loc *time.Location) (sender string, t time.Time, ok bool) {
	b := line
	i := 0
	if at(b, 0) == '"' {
		esc := false
		i++
		for i < len(b) && (b[i] != '"' || esc) {
			if b[i] == '\r' || b[i] == '\n' {
				return "", time.Time{}, false
			}
			esc = b[i] == '\\'
			i++
		}
		i++
	}
	for i < len(b) && b[i] != ' ' {
		if b[i] == '\r' || b[i] == '\n' {
			return "", time.Time{}, false
		}
		i++
	}
	if i > len(b) {
		i = len(b)
	}
	senderEnd := i
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i+29-3-5 > len(b) {
		return "", time.Time{}, false
	}
	var (
		mon               time.Month
		day, year         int
		hour, minute, sec int
		alt, seenZone     bool
		zoneSecs          int
		good              bool
	)
	i += 4 // weekday, not checked
	if mon, good = parseMonth(b, i); !good {
		// "Thu, 9 Nov 2002 22:33:52"
		alt = true
		i++
		if !isDigit(at(b, i)) {
			return "", time.Time{}, false
		}
		day = int(b[i] - '0')
		i++
		if isDigit(at(b, i)) {
			day = day*10 + int(b[i]-'0')
			i++
		}
		if at(b, i) != ' ' {
			return "", time.Time{}, false
		}
		i++
		if mon, good = parseMonth(b, i); !good {
			return "", time.Time{}, false
		}
		i += 4
		if year, good = parseYear(b, i); !good {
			return "", time.Time{}, false
		}
		i += 5
	} else {
		i += 4
		if at(b, i) == ' ' {
			i++
		}
		if at(b, i+1) == ' ' {
			if !isDigit(at(b, i)) {
				return "", time.Time{}, false
			}
			day = int(b[i] - '0')
			i += 2
		} else {
			if !isDigit(at(b, i)) || !isDigit(at(b, i+1)) || at(b, i+2) != ' ' {
				return "", time.Time{}, false
			}
			day = int(b[i]-'0')*10 + int(b[i+1]-'0')
			i += 3
		}
	}
	if day == 0 {
		day = 1
	}
	if i+5 > len(b) {
		return "", time.Time{}, false
	}
	if !isDigit(at(b, i)) || !isDigit(at(b, i+1)) || at(b, i+2) != ':' {
		return "", time.Time{}, false
	}
	hour = int(b[i]-'0')*10 + int(b[i+1]-'0')
	i += 3
	if !isDigit(at(b, i)) || !isDigit(at(b, i+1)) {
		return "", time.Time{}, false
	}
	minute = int(b[i]-'0')*10 + int(b[i+1]-'0')
	i += 2
	switch {
	case i >= len(b):
	case b[i] == ':':
		if i+3 > len(b) {
			return "", time.Time{}, false
		}
		i++
		if !isDigit(at(b, i)) || !isDigit(at(b, i+1)) {
			return "", time.Time{}, false
		}
		sec = int(b[i]-'0')*10 + int(b[i+1]-'0')
		i += 2
		if !alt {
			if at(b, i) != ' ' {
				return "", time.Time{}, false
			}
			i++
		}
	case !alt:
		if b[i] != ' ' {
			return "", time.Time{}, false
		}
		i++
	}
	if !alt {
		if i+4 <= len(b) && (!isDigit(b[i]) || !isDigit(b[i+1]) || !isDigit(b[i+2]) || !isDigit(b[i+3])) {
			// A zone word (or "-0500") before the year is skipped.
			for i < len(b) && b[i] != ' ' {
				if b[i] == '\r' || b[i] == '\n' {
					return "", time.Time{}, false
				}
				i++
			}
			if i+5 > len(b) {
				return "", time.Time{}, false
			}
			i++
		}
		if i+4 > len(b) {
			return "", time.Time{}, false
		}
		if year, good = parseYear(b, i); !good {
			return "", time.Time{}, false
		}
		i += 4
	}
	if i+6 <= len(b) && b[i] == ' ' && (b[i+1] == '-' || b[i+1] == '+') &&
		isDigit(b[i+2]) && isDigit(b[i+3]) && isDigit(b[i+4]) && isDigit(b[i+5]) {
		seenZone = true
		// Dovecot 2.3 counts the minutes of the offset as seconds; keep
		// that so INTERNALDATEs agree.
		zoneSecs = int(b[i+2]-'0')*36000 + int(b[i+3]-'0')*3600 + int(b[i+4]-'0')*10 + int(b[i+5]-'0')
		if b[i+1] == '-' {
			zoneSecs = -zoneSecs
		}
	}
	if seenZone {
		t = time.Date(year, mon, day, hour, minute, sec, 0, time.UTC).Add(-time.Duration(zoneSecs) * time.Second)
	} else {
		t = time.Date(year, mon, day, hour, minute, sec, 0, loc)
	}
	return string(b[:senderEnd]), t, true
}

// isFromLine reports whether line (starting at a line start) is a From_
// separator as Dovecot recognises it.
func isFromLine(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("From ")) {
		return false
	}
	_, _, ok := parseFromLine(line[5:], time.UTC)
	return ok
}

// formatFromLine returns the From_ line Dovecot writes for a saved message:
// two spaces after the sender and a zero-padded day, in local time.
func formatFromLine(sender string, t time.Time, loc *time.Location) string {
	t = t.In(loc)
	var sb strings.Builder
	sb.Grow(len(sender) + 32)
	sb.WriteString("From ")
	sb.WriteString(sender)
	sb.WriteString("  ")
	sb.WriteString(weekdayNames[t.Weekday()])
	sb.WriteByte(' ')
	sb.WriteString(monthNames[t.Month()-1])
	sb.WriteString(t.Format(" 02 15:04:05 2006"))
	sb.WriteByte('\n')
	return sb.String()
}
