// SPDX-License-Identifier: MIT

package smtpd

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// testDNS is a tiny authoritative DNS server on 127.0.0.1 for the tests:
// PTR, A, AAAA and MX records from maps, NXDOMAIN for everything else,
// SERVFAIL for names listed in fail. The tests reach it through a
// net.Resolver of their own, never through the system resolver.
type testDNS struct {
	mu   sync.Mutex
	ptr  map[string]string   // "127.0.0.20" → "pc.example."
	a    map[string][]string // "pc.example" → addresses
	mx   map[string][]string // domain → exchange hosts
	fail map[string]bool     // names answered with SERVFAIL
	conn net.PacketConn
}

func startDNS(t testing.TB) *testDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &testDNS{ptr: map[string]string{}, a: map[string][]string{}, mx: map[string][]string{}, fail: map[string]bool{}, conn: pc}
	t.Cleanup(func() { pc.Close() })
	go d.serve()
	return d
}

// resolver returns a Go resolver that asks only this server.
func (d *testDNS) resolver() *net.Resolver {
	addr := d.conn.LocalAddr().String()
	return &net.Resolver{PreferGo: true, StrictErrors: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp4", addr)
	}}
}

func (d *testDNS) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp, err := d.answer(buf[:n]); err == nil {
			d.conn.WriteTo(resp, from)
		}
	}
}

func readName(msg []byte, off int) (string, int, error) {
	var labels []string
	for {
		if off >= len(msg) {
			return "", 0, errors.New("short")
		}
		l := int(msg[off])
		off++
		if l == 0 {
			break
		}
		if l&0xc0 != 0 || off+l > len(msg) {
			return "", 0, errors.New("bad label")
		}
		labels = append(labels, string(msg[off:off+l]))
		off += l
	}
	return strings.Join(labels, "."), off, nil
}

func putName(b []byte, name string) []byte {
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if l == "" {
			continue
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

func (d *testDNS) answer(q []byte) ([]byte, error) {
	if len(q) < 12 {
		return nil, errors.New("short")
	}
	name, off, err := readName(q, 12)
	if err != nil || off+4 > len(q) {
		return nil, errors.New("bad question")
	}
	qtype := binary.BigEndian.Uint16(q[off:])
	question := q[12 : off+4]
	key := strings.ToLower(name)

	d.mu.Lock()
	defer d.mu.Unlock()
	type rr struct {
		typ  uint16
		data []byte
	}
	var answers []rr
	rcode := 3 // NXDOMAIN
	exists := false
	if d.fail[key] {
		rcode = 2
	} else {
		if ip, ok := ptrName(key); ok {
			if host, ok := d.ptr[ip]; ok {
				exists = true
				if qtype == 12 {
					answers = append(answers, rr{12, putName(nil, host)})
				}
			}
		}
		if addrs, ok := d.a[key]; ok {
			exists = true
			for _, s := range addrs {
				ip := netip.MustParseAddr(s)
				if ip.Is4() && qtype == 1 {
					b := ip.As4()
					answers = append(answers, rr{1, b[:]})
				}
				if ip.Is6() && qtype == 28 {
					b := ip.As16()
					answers = append(answers, rr{28, b[:]})
				}
			}
		}
		if hosts, ok := d.mx[key]; ok {
			exists = true
			if qtype == 15 {
				for _, h := range hosts {
					answers = append(answers, rr{15, putName([]byte{0, 10}, h)})
				}
			}
		}
		if exists {
			rcode = 0
		}
	}
	resp := make([]byte, 12, 512)
	copy(resp, q[:2])
	resp[2] = 0x84 | q[2]&0x01 // QR, AA, RD copied
	resp[3] = byte(rcode)
	if q[2]&0x01 != 0 {
		resp[3] |= 0x80 // RA
	}
	binary.BigEndian.PutUint16(resp[4:], 1)
	binary.BigEndian.PutUint16(resp[6:], uint16(len(answers)))
	resp = append(resp, question...)
	for _, a := range answers {
		resp = append(resp, 0xc0, 12)
		resp = binary.BigEndian.AppendUint16(resp, a.typ)
		resp = binary.BigEndian.AppendUint16(resp, 1)
		resp = binary.BigEndian.AppendUint32(resp, 60)
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(a.data)))
		resp = append(resp, a.data...)
	}
	return resp, nil
}

// ptrName turns "20.0.0.127.in-addr.arpa" into "127.0.0.20".
func ptrName(name string) (string, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return "", false
	}
	p := strings.Split(rest, ".")
	if len(p) != 4 {
		return "", false
	}
	return p[3] + "." + p[2] + "." + p[1] + "." + p[0], true
}
