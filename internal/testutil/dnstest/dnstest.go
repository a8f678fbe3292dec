// SPDX-License-Identifier: MIT

// Package dnstest is a tiny authoritative DNS server for tests: it answers
// A, AAAA, MX and PTR queries from maps on a loopback port (UDP and TCP on
// the same port), NXDOMAIN for names it does not know, SERVFAIL for names
// under "servfail.". Nothing in mailsuite's tests may query the system
// resolver; they run one of these instead.
//
// Two ways to point code at it:
//
//   - in process, Server.Resolver returns a *net.Resolver whose every
//     query goes to the server (pass it as the courier's or the SMTP
//     server's Resolver);
//   - for a child process such as bin/sendmaild, Server.WriteResolvConf
//     writes a resolv.conf naming the server ("nameserver 127.0.0.1:PORT",
//     a mailsuite extension of the resolv.conf syntax) and Server.Env
//     returns the MAILSUITE_RESOLV_CONF=<file> variable that makes
//     sendmaild read it instead of /etc/resolv.conf.
//
// It does not recurse, compress names, or answer any other type.
package dnstest

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// EnvVar names the resolv.conf file mailsuite's daemons read in place of
// /etc/resolv.conf (see internal/deliver/remote.SystemResolver).
const EnvVar = "MAILSUITE_RESOLV_CONF"

// Server is a running test DNS server.
type Server struct {
	mu   sync.Mutex
	mx   map[string][]*net.MX
	a    map[string][]netip.Addr
	ptr  map[string]string
	hits map[string]int
	pc   net.PacketConn
	ln   net.Listener
	wg   sync.WaitGroup
}

// New starts a server on 127.0.0.1 (UDP and TCP on one port) and stops it
// when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := Start("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a server on ip (a loopback address) for callers that are
// not tests (benchmarks, demo scripts). Close stops it.
func Start(ip string) (*Server, error) {
	s := &Server{mx: map[string][]*net.MX{}, a: map[string][]netip.Addr{},
		ptr: map[string]string{}, hits: map[string]int{}}
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			lastErr = err
			continue
		}
		s.pc, s.ln = pc, ln
		s.wg.Add(2)
		go s.serveUDP()
		go s.serveTCP()
		return s, nil
	}
	return nil, fmt.Errorf("dnstest: no free UDP+TCP port on %s: %w", ip, lastErr)
}

// Close stops the server and waits for it.
func (s *Server) Close() {
	s.pc.Close()
	s.ln.Close()
	s.wg.Wait()
}

// Addr is the server's "ip:port".
func (s *Server) Addr() string { return s.pc.LocalAddr().String() }

func key(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// AddMX adds an MX record name → host with preference pref.
func (s *Server) AddMX(name, host string, pref uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mx[key(name)] = append(s.mx[key(name)], &net.MX{Host: host, Pref: pref})
}

// AddA adds address records (A or AAAA, by the address's form) for name,
// and the matching PTR records unless the address already has one.
func (s *Server) AddA(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range addrs {
		ip := netip.MustParseAddr(a)
		s.a[key(name)] = append(s.a[key(name)], ip)
		if _, ok := s.ptr[reverse(ip)]; !ok {
			s.ptr[reverse(ip)] = key(name)
		}
	}
}

// AddPTR sets the PTR record of addr to name.
func (s *Server) AddPTR(addr, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ptr[reverse(netip.MustParseAddr(addr))] = key(name)
}

// Hits returns how many queries (any type) the server got for name.
func (s *Server) Hits(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[key(name)]
}

// Resolver returns a Go resolver whose every query goes to this server.
func (s *Server) Resolver() *net.Resolver {
	addr := s.Addr()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// WriteResolvConf writes dir/resolv.conf naming this server and returns
// its path.
func (s *Server) WriteResolvConf(dir string) (string, error) {
	p := filepath.Join(dir, "resolv.conf")
	return p, os.WriteFile(p, []byte("# dnstest\nnameserver "+s.Addr()+"\n"), 0o644)
}

// Env writes the resolv.conf into dir and returns the environment entry
// ("MAILSUITE_RESOLV_CONF=<dir>/resolv.conf") for a child process.
func (s *Server) Env(t testing.TB, dir string) string {
	t.Helper()
	p, err := s.WriteResolvConf(dir)
	if err != nil {
		t.Fatal(err)
	}
	return EnvVar + "=" + p
}

// reverse is the in-addr.arpa / ip6.arpa name of ip.
func reverse(ip netip.Addr) string {
	ip = ip.Unmap()
	b := ip.AsSlice()
	var parts []string
	if ip.Is4() {
		for i := len(b) - 1; i >= 0; i-- {
			parts = append(parts, fmt.Sprint(b[i]))
		}
		return strings.Join(parts, ".") + ".in-addr.arpa"
	}
	const hex = "0123456789abcdef"
	for i := len(b) - 1; i >= 0; i-- {
		parts = append(parts, string(hex[b[i]&15]), string(hex[b[i]>>4]))
	}
	return strings.Join(parts, ".") + ".ip6.arpa"
}

func (s *Server) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := s.answer(buf[:n]); resp != nil {
			s.pc.WriteTo(resp, from)
		}
	}
}

func (s *Server) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			for {
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, q); err != nil {
					return
				}
				resp := s.answer(q)
				if resp == nil {
					return
				}
				if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(resp))), resp...)); err != nil {
					return
				}
			}
		}()
	}
}

// Query types and response codes (RFC 1035 §3.2.2, §4.1.1; RFC 3596).
const (
	typeA    = 1
	typePTR  = 12
	typeMX   = 15
	typeAAAA = 28

	rcodeServFail = 2
	rcodeNXDomain = 3
)

// answer builds the response to one query (RFC 1035 §4.1).
func (s *Server) answer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	i, labels := 12, []string{}
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if l > 63 || i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qname := q[12 : i+1]
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[12 : i+5]
	name := strings.ToLower(strings.Join(labels, "."))

	s.mu.Lock()
	s.hits[name]++
	mxs, knownMX := s.mx[name]
	addrs, knownA := s.a[name]
	ptr, knownPTR := s.ptr[name]
	s.mu.Unlock()
	rcode := uint16(0)
	if !knownMX && !knownA && !knownPTR {
		rcode = rcodeNXDomain
	}
	if strings.HasPrefix(name, "servfail.") {
		rcode = rcodeServFail
	}
	var answers [][]byte
	rr := func(typ uint16, rdata []byte) {
		b := append([]byte{}, qname...)
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint16(b, 1) // IN
		b = binary.BigEndian.AppendUint32(b, 60)
		b = binary.BigEndian.AppendUint16(b, uint16(len(rdata)))
		answers = append(answers, append(b, rdata...))
	}
	if rcode == 0 {
		switch qtype {
		case typeMX:
			for _, mx := range mxs {
				rr(typeMX, appendName(binary.BigEndian.AppendUint16(nil, mx.Pref), mx.Host))
			}
		case typeA, typeAAAA:
			for _, a := range addrs {
				if a.Is4() && qtype == typeA || a.Is6() && qtype == typeAAAA {
					rr(qtype, a.AsSlice())
				}
			}
		case typePTR:
			if knownPTR {
				rr(typePTR, appendName(nil, ptr))
			}
		}
	}
	h := make([]byte, 12)
	copy(h, q[:2])
	binary.BigEndian.PutUint16(h[2:], 0x8400|uint16(q[2]&1)<<8|rcode) // QR, AA, RD copied
	binary.BigEndian.PutUint16(h[4:], 1)
	binary.BigEndian.PutUint16(h[6:], uint16(len(answers)))
	out := append(h, question...)
	for _, a := range answers {
		out = append(out, a...)
	}
	return out
}

// appendName appends name in DNS wire form, uncompressed.
func appendName(b []byte, name string) []byte {
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if l == "" {
			continue
		}
		b = append(append(b, byte(len(l))), l...)
	}
	return append(b, 0)
}
