// SPDX-License-Identifier: MIT

package cf

import (
	"net"
	"strconv"
	"strings"
)

// PortOptions is one DaemonPortOptions or ClientPortOptions value:
// comma-separated key=value pairs whose key counts by its first letter
// (daemon.c's setsockaddroptions).
type PortOptions struct {
	// Raw is the value as written.
	Raw string
	// Name is the daemon name (${daemon_name}); for daemons without
	// Name=, "Daemon<n>" with n the line's index, as sendmail names them.
	Name string
	// Addr is the address, host name or (Family=local) socket path;
	// empty means every address.
	Addr string
	// Port is a number or a service name; daemons default to "smtp".
	Port string
	// Family is "inet" (the default), "inet6" or "local".
	Family string
	// Listen is the listen(2) backlog (daemons: 10 unless set).
	Listen int
	// Modifiers are the flag letters of M= ("Ea", "E", …).
	Modifiers string
	// SndBufSize and RcvBufSize are the S= and R= socket buffer sizes.
	SndBufSize, RcvBufSize int
	// InputMailFilters are the I= milter names (separated by ";").
	InputMailFilters []string
	// Children (c=), DeliveryMode (D=), DelayLA (d=), QueueLA (q=) and
	// RefuseLA (r=) are per-daemon overrides, as written.
	Children, DeliveryMode, DelayLA, QueueLA, RefuseLA string

	// errs are sendmail's complaints about the value (its syserr texts
	// without the "554 5.3.5" it does not print for cf errors).
	errs []string
}

func parsePortOptions(v string, daemon bool) PortOptions {
	po := PortOptions{Raw: v, Family: "inet"}
	if daemon {
		po.Port = "smtp"
		po.Listen = 10
	}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimLeft(item, " \t\n")
		if item == "" {
			continue
		}
		eq := strings.IndexByte(item, '=')
		if eq < 0 {
			continue
		}
		val := strings.TrimRight(strings.TrimLeft(item[eq+1:], " \t\n"), " \t\n")
		switch item[0] {
		case 'A', 'a':
			po.Addr = val
		case 'c':
			po.Children = val
		case 'D':
			po.DeliveryMode = val
		case 'd':
			po.DelayLA = val
		case 'F', 'f':
			switch strings.ToLower(val) {
			case "inet":
				po.Family = "inet"
			case "inet6":
				po.Family = "inet6"
			case "local", "unix":
				po.Family = "local"
			default:
				po.errs = append(po.errs, "Unknown address family "+val+" in Family=option")
			}
		case 'I', 'i':
			for _, f := range strings.Split(val, ";") {
				if f = strings.TrimSpace(f); f != "" {
					po.InputMailFilters = append(po.InputMailFilters, f)
				}
			}
		case 'L', 'l':
			po.Listen = int(atol(val))
		case 'M', 'm':
			po.Modifiers = strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == ',' {
					return -1
				}
				return r
			}, val)
		case 'N', 'n':
			po.Name = val
		case 'P', 'p':
			po.Port = val
			if _, err := strconv.Atoi(val); err != nil && val != "" {
				// sendmail resolves a service name when it reads the line.
				if _, err := net.LookupPort("tcp", val); err != nil {
					po.errs = append(po.errs, "service \""+val+"\" unknown")
				}
			}
		case 'q':
			po.QueueLA = val
		case 'R':
			po.RcvBufSize = int(atol(val))
		case 'r':
			po.RefuseLA = val
		case 'S', 's':
			po.SndBufSize = int(atol(val))
		default:
			po.errs = append(po.errs, "PortOptions parameter \""+strings.TrimRight(item, " \t\n")+"\" unknown")
		}
	}
	return po
}

// HasModifier reports whether modifier letter c was given.
func (po PortOptions) HasModifier(c byte) bool { return strings.IndexByte(po.Modifiers, c) >= 0 }

// DaemonFlags is ${daemon_flags} as the rulesets see it: the modifier
// letters separated by blanks, upper-case letters doubled ("Ea" gives
// "EE a").
func (po PortOptions) DaemonFlags() string {
	var ws []string
	for i := 0; i < len(po.Modifiers); i++ {
		c := po.Modifiers[i]
		if c >= 'A' && c <= 'Z' {
			ws = append(ws, string([]byte{c, c}))
		} else {
			ws = append(ws, string(c))
		}
	}
	return strings.Join(ws, " ")
}

// PortNumber resolves Port: a number, or a service name looked up in the
// services database (/etc/services).
func (po PortOptions) PortNumber() (int, error) {
	p := po.Port
	if p == "" {
		p = "smtp"
	}
	if n, err := strconv.Atoi(p); err == nil {
		return n, nil
	}
	return net.LookupPort("tcp", p)
}
