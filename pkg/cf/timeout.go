// SPDX-License-Identifier: MIT

package cf

import (
	"strings"
	"time"
)

// convtime is sendmail's: a sum of numbers each followed by a unit
// (w d h m s), the default unit applying to a number at the end; a
// leading "-" negates and "now" is 0. An unknown unit is reported and
// the default unit used instead.
func (p *parser) convtime(s string, unit byte) time.Duration {
	d, bad := convtime(s, unit)
	for _, c := range bad {
		p.errorf("Invalid time unit `%c'", c)
	}
	return d
}

// ParseDuration reads a sendmail time value ("2h30m", "5d", "90"), unit
// being the unit of a bare number.
func ParseDuration(s string, unit byte) (time.Duration, bool) {
	d, bad := convtime(s, unit)
	return d, len(bad) == 0
}

func convtime(s string, unit byte) (time.Duration, []byte) {
	if strings.EqualFold(s, "now") {
		return 0, nil
	}
	var (
		total int64
		bad   []byte
	)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	for i := 0; i < len(s); {
		var n int64
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if n < 1<<40 {
				n = n*10 + int64(s[i]-'0')
			}
			i++
		}
		c := unit
		if i < len(s) {
			c = s[i]
			i++
			if strings.IndexByte("wdhms", c) < 0 {
				bad = append(bad, c)
				c = unit
			}
		}
		switch c {
		case 'w':
			n *= 7 * 24 * 3600
		case 'd':
			n *= 24 * 3600
		case 'h':
			n *= 3600
		case 'm':
			n *= 60
		}
		total += n
	}
	if neg {
		total = -total
	}
	return time.Duration(total) * time.Second, bad
}

// setTimeout is settimeout: sub names one timeout (case-insensitively);
// "Timeout" without a sub-option takes the old list syntax.
func (p *parser) setTimeout(sub, val string) {
	if sub == "" {
		if !strings.Contains(val, "=") {
			// Old syntax: one value for the read timeouts.
			d := p.convtime(val, 'm')
			t := &p.cfg.Timeouts
			t.Mail, t.Rcpt, t.DataInit, t.DataBlock, t.DataFinal, t.Command = d, d, d, d, d, d
			return
		}
		for _, kv := range strings.Split(val, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			p.setTimeout(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		return
	}
	t := &p.cfg.Timeouts
	name := strings.ToLower(sub)
	var target *time.Duration
	switch name {
	case "initial":
		target = &t.Initial
	case "mail":
		target = &t.Mail
	case "rcpt":
		target = &t.Rcpt
	case "datainit":
		target = &t.DataInit
	case "datablock":
		target = &t.DataBlock
	case "datafinal":
		target = &t.DataFinal
	case "command":
		target = &t.Command
	case "rset":
		target = &t.Rset
	case "helo":
		target = &t.Helo
	case "quit":
		target = &t.Quit
	case "misc":
		target = &t.Misc
	case "ident":
		target = &t.Ident
	case "fileopen":
		target = &t.FileOpen
	case "connect":
		target = &t.Connect
	case "iconnect":
		target = &t.IConnect
	case "aconnect":
		target = &t.AConnect
	case "control":
		target = &t.Control
	case "lhlo":
		target = &t.LHLO
	case "auth":
		target = &t.Auth
	case "starttls":
		target = &t.StartTLS
	case "hoststatus":
		target = &t.HostStatus
	case "queuewarn", "queuewarn.*":
		d := p.convtime(val, 'h')
		t.QueueWarn = QueueTimes{d, d, d, d}
		return
	case "queuewarn.normal":
		t.QueueWarn.Normal = p.convtime(val, 'h')
		return
	case "queuewarn.urgent":
		t.QueueWarn.Urgent = p.convtime(val, 'h')
		return
	case "queuewarn.non-urgent":
		t.QueueWarn.NonUrgent = p.convtime(val, 'h')
		return
	case "queuewarn.dsn":
		t.QueueWarn.DSN = p.convtime(val, 'h')
		return
	case "queuereturn", "queuereturn.*":
		d := p.convtime(val, 'd')
		t.QueueReturn = QueueTimes{d, d, d, d}
		return
	case "queuereturn.normal":
		t.QueueReturn.Normal = p.convtime(val, 'd')
		return
	case "queuereturn.urgent":
		t.QueueReturn.Urgent = p.convtime(val, 'd')
		return
	case "queuereturn.non-urgent":
		t.QueueReturn.NonUrgent = p.convtime(val, 'd')
		return
	case "queuereturn.dsn":
		t.QueueReturn.DSN = p.convtime(val, 'd')
		return
	case "resolver.retrans":
		n := int(atol(val))
		t.ResolverRetransFirst, t.ResolverRetransNormal = n, n
		return
	case "resolver.retrans.first":
		t.ResolverRetransFirst = int(atol(val))
		return
	case "resolver.retrans.normal":
		t.ResolverRetransNormal = int(atol(val))
		return
	case "resolver.retry":
		n := int(atol(val))
		t.ResolverRetryFirst, t.ResolverRetryNormal = n, n
		return
	case "resolver.retry.first":
		t.ResolverRetryFirst = int(atol(val))
		return
	case "resolver.retry.normal":
		t.ResolverRetryNormal = int(atol(val))
		return
	default:
		p.errorf("settimeout: invalid timeout %s", sub)
		return
	}
	*target = p.convtime(val, 'm')
}
