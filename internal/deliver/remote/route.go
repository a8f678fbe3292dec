// SPDX-License-Identifier: MIT

package remote

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strings"
)

// Resolver is the part of *net.Resolver the courier uses. Production
// passes net.DefaultResolver (the system's /etc/resolv.conf); tests pass a
// resolver that talks to their own DNS server on loopback.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// mxHost is one server to try: its name (with the final dot for names from
// DNS, "[a.b.c.d]" for a literal) and addresses.
type mxHost struct {
	Name  string
	Addrs []netip.Addr
}

// relay returns the log's relay= value: "mx.example. [192.0.2.1]", and
// for a bracketed host "[192.0.2.1] [192.0.2.1]", as sendmail logs both.
func (h mxHost) relay(a netip.Addr) string {
	return h.Name + " [" + a.String() + "]"
}

// errLoop is sendmail's error when every MX is ourselves or less
// preferred than ourselves (EX_CONFIG, 5.3.5).
var errLoop = errors.New("config error: mail loops back to me (MX problem?)")

// errNoHost is a domain without MX and address records (EX_NOHOST, 5.1.2).
type errNoHost struct {
	name string
	temp bool
}

func (e *errNoHost) Error() string {
	if e.temp {
		return "Name server: " + e.name + ": host name lookup failure"
	}
	return "Name server: " + e.name + ": host not found"
}

// splitRelay parses a mailertable or DS value: "mailer:host",
// "[host]" (no MX lookup), "host". It returns the host and whether it
// was bracketed.
func splitRelay(v string) (host string, literal bool) {
	if i := strings.IndexByte(v, ':'); i >= 0 && !strings.HasPrefix(v, "[") {
		v = v[i+1:]
	}
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		return v[1 : len(v)-1], true
	}
	return v, false
}

// route finds the hosts for target (a domain, or a relay host from the
// mailertable or DS) in the order sendmail tries them.
func (c *Courier) route(ctx context.Context, target string, literal bool) ([]mxHost, error) {
	target = strings.TrimSuffix(target, ".")
	if literal {
		if a, err := netip.ParseAddr(strings.TrimPrefix(target, "IPv6:")); err == nil {
			if c.isLocalAddr(a) {
				return nil, errLoop
			}
			return []mxHost{{Name: "[" + target + "]", Addrs: []netip.Addr{a}}}, nil
		}
		addrs, err := c.addrs(ctx, target)
		if err != nil {
			return nil, err
		}
		return []mxHost{{Name: target + ".", Addrs: addrs}}, nil
	}
	mxs, err := c.Resolver.LookupMX(ctx, target+".")
	var dnsErr *net.DNSError
	if err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		return nil, &errNoHost{name: target, temp: true}
	}
	if len(mxs) == 0 {
		// No MX: the domain's own address records (RFC 5321 §5.1).
		addrs, err := c.addrs(ctx, target)
		if err != nil {
			return nil, err
		}
		if len(c.localOnly(addrs)) == 0 {
			return nil, errLoop
		}
		return []mxHost{{Name: target + ".", Addrs: c.localOnly(addrs)}}, nil
	}
	mxs = shuffleEqual(mxs)
	// Sendmail drops every MX at or after the first that names us
	// (getmxrr: "we are in the MX list").
	for i, mx := range mxs {
		if c.isLocalName(mx.Host) {
			mxs = mxs[:i]
			if i == 0 {
				return nil, errLoop
			}
			break
		}
	}
	var hosts []mxHost
	var lastErr error
	for _, mx := range mxs {
		addrs, err := c.addrs(ctx, strings.TrimSuffix(mx.Host, "."))
		if err != nil {
			lastErr = err
			continue
		}
		if kept := c.localOnly(addrs); len(kept) > 0 {
			hosts = append(hosts, mxHost{Name: strings.TrimSuffix(mx.Host, ".") + ".", Addrs: kept})
		} else if len(hosts) == 0 {
			return nil, errLoop
		}
	}
	if len(hosts) == 0 {
		if lastErr == nil {
			lastErr = errLoop
		}
		return nil, lastErr
	}
	return hosts, nil
}

// shuffleEqual sorts by preference and randomises the order of records
// of equal preference, as sendmail's getmxrr does.
func shuffleEqual(mxs []*net.MX) []*net.MX {
	out := append([]*net.MX(nil), mxs...)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pref < out[j].Pref })
	return out
}

func (c *Courier) addrs(ctx context.Context, name string) ([]netip.Addr, error) {
	addrs, err := c.Resolver.LookupNetIP(ctx, "ip", name+".")
	if err != nil {
		var dnsErr *net.DNSError
		temp := !(errors.As(err, &dnsErr) && dnsErr.IsNotFound)
		return nil, &errNoHost{name: name, temp: temp}
	}
	if len(addrs) == 0 {
		return nil, &errNoHost{name: name}
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, nil
}

// localOnly drops our own addresses.
func (c *Courier) localOnly(addrs []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if !c.isLocalAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

func (c *Courier) isLocalName(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, w := range c.LocalNames {
		if strings.ToLower(strings.TrimSuffix(w, ".")) == name {
			return true
		}
	}
	return false
}

func (c *Courier) isLocalAddr(a netip.Addr) bool {
	for _, l := range c.LocalAddrs {
		if l == a.Unmap() {
			return true
		}
	}
	return false
}

// hostPort joins an address and the mailer's port.
func hostPort(a netip.Addr, port int) string {
	return net.JoinHostPort(a.String(), fmt.Sprint(port))
}
