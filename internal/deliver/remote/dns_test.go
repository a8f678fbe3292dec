// SPDX-License-Identifier: MIT

package remote

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// dnsServer is a tiny authoritative DNS server on 127.0.0.1 for the
// tests: MX, A and AAAA records from maps, NXDOMAIN for names it does not
// know. Nothing in these tests uses the system resolver.
type dnsServer struct {
	mu  sync.Mutex
	mx  map[string][]*net.MX
	a   map[string][]netip.Addr
	pc  net.PacketConn
	hit map[string]int
}

func newDNS(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &dnsServer{mx: map[string][]*net.MX{}, a: map[string][]netip.Addr{}, pc: pc, hit: map[string]int{}}
	go d.serve()
	t.Cleanup(func() { pc.Close() })
	return d
}

func (d *dnsServer) addMX(name, host string, pref uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	d.mx[name] = append(d.mx[name], &net.MX{Host: host, Pref: pref})
}

func (d *dnsServer) addA(name string, addrs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, a := range addrs {
		d.a[name] = append(d.a[name], netip.MustParseAddr(a))
	}
}

// resolver is a Go resolver whose every query goes to this server.
func (d *dnsServer) resolver() *net.Resolver {
	addr := d.pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", addr)
	}}
}

func (d *dnsServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := d.answer(buf[:n]); resp != nil {
			d.pc.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query (RFC 1035 §4.1).
func (d *dnsServer) answer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	// The question: labels, then type and class.
	i, labels := 12, []string{}
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
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

	d.mu.Lock()
	d.hit[name]++
	mxs, known := d.mx[name]
	addrs, knownA := d.a[name]
	d.mu.Unlock()
	rcode := uint16(0)
	if !known && !knownA {
		rcode = 3 // NXDOMAIN
	}
	if strings.HasPrefix(name, "servfail.") {
		rcode = 2
	}
	var answers [][]byte
	rr := func(typ uint16, rdata []byte) {
		b := append([]byte{}, qname...)
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint16(b, 1)
		b = binary.BigEndian.AppendUint32(b, 60)
		b = binary.BigEndian.AppendUint16(b, uint16(len(rdata)))
		answers = append(answers, append(b, rdata...))
	}
	switch qtype {
	case 15:
		for _, mx := range mxs {
			rd := binary.BigEndian.AppendUint16(nil, mx.Pref)
			for _, l := range strings.Split(strings.TrimSuffix(mx.Host, "."), ".") {
				rd = append(append(rd, byte(len(l))), l...)
			}
			rr(15, append(rd, 0))
		}
	case 1, 28:
		for _, a := range addrs {
			if a.Is4() && qtype == 1 || a.Is6() && qtype == 28 {
				rr(qtype, a.AsSlice())
			}
		}
	}
	h := make([]byte, 12)
	copy(h, q[:2])
	binary.BigEndian.PutUint16(h[2:], 0x8400|rcode) // QR, AA
	binary.BigEndian.PutUint16(h[4:], 1)
	binary.BigEndian.PutUint16(h[6:], uint16(len(answers)))
	out := append(h, question...)
	for _, a := range answers {
		out = append(out, a...)
	}
	return out
}
