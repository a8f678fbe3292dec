// SPDX-License-Identifier: MIT

package remote

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
)

// ResolvConfEnv names a resolv.conf that sendmaild reads in place of
// /etc/resolv.conf. Tests and the demo set it to a file naming their own
// DNS server on loopback (internal/testutil/dnstest writes one).
const ResolvConfEnv = "MAILSUITE_RESOLV_CONF"

// SystemResolver returns the resolver every DNS query of sendmaild goes
// through: net.DefaultResolver (/etc/resolv.conf) unless $MAILSUITE_RESOLV_CONF
// names another file. Its "nameserver" lines may carry a port
// ("nameserver 127.0.0.1:5353", "nameserver [::1]:5353"), a mailsuite
// extension so that a test's server need not own port 53; the servers are
// tried in order, as the system resolver tries them.
func SystemResolver() (*net.Resolver, error) {
	p := os.Getenv(ResolvConfEnv)
	if p == "" {
		return net.DefaultResolver, nil
	}
	return ResolverFromFile(p)
}

// ResolverFromFile returns a Go resolver that sends every query to the
// name servers listed in the resolv.conf file p.
func ResolverFromFile(p string) (*net.Resolver, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	servers, err := parseResolvConf(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	var next atomic.Uint32
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		// The Go resolver retries through Dial; rotating the servers
		// gives each its turn when one does not answer.
		s := servers[int(next.Add(1)-1)%len(servers)]
		var d net.Dialer
		return d.DialContext(ctx, network, s)
	}}, nil
}

// parseResolvConf returns the "host:port" of every nameserver line.
func parseResolvConf(r io.Reader) ([]string, error) {
	var servers []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		s, err := nameserver(fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		servers = append(servers, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(servers) == 0 {
		return nil, errors.New("no nameserver line")
	}
	return servers, nil
}

// nameserver turns "ip" or "ip:port" / "[ip]:port" into "host:port".
func nameserver(v string) (string, error) {
	if a, err := netip.ParseAddr(v); err == nil {
		return net.JoinHostPort(a.String(), "53"), nil
	}
	ap, err := netip.ParseAddrPort(v)
	if err != nil {
		return "", fmt.Errorf("bad nameserver %q", v)
	}
	return ap.String(), nil
}
