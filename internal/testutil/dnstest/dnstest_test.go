// SPDX-License-Identifier: MIT

package dnstest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAnswers(t *testing.T) {
	s := New(t)
	s.AddMX("a.test", "mx1.a.test", 10)
	s.AddMX("a.test", "mx2.a.test", 20)
	s.AddA("mx1.a.test", "127.0.0.21", "::1")
	s.AddPTR("127.0.0.22", "other.test")
	ctx := context.Background()
	for _, tcp := range []bool{false, true} {
		r := s.Resolver()
		if tcp {
			addr := s.Addr()
			r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", addr)
			}}
		}
		mxs, err := r.LookupMX(ctx, "A.test.")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range mxs {
			got = append(got, m.Host)
		}
		if diff := cmp.Diff([]string{"mx1.a.test.", "mx2.a.test."}, got); diff != "" {
			t.Errorf("tcp=%v MX (-want +got):\n%s", tcp, diff)
		}
		addrs, err := r.LookupNetIP(ctx, "ip", "mx1.a.test.")
		if err != nil || len(addrs) != 2 {
			t.Errorf("tcp=%v A/AAAA: %v %v", tcp, addrs, err)
		}
		names, err := r.LookupAddr(ctx, "127.0.0.21")
		if err != nil || len(names) != 1 || names[0] != "mx1.a.test." {
			t.Errorf("tcp=%v PTR 127.0.0.21: %v %v", tcp, names, err)
		}
		names, err = r.LookupAddr(ctx, "127.0.0.22")
		if err != nil || len(names) != 1 || names[0] != "other.test." {
			t.Errorf("tcp=%v PTR 127.0.0.22: %v %v", tcp, names, err)
		}
		_, err = r.LookupNetIP(ctx, "ip", "nowhere.test.")
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Errorf("tcp=%v nowhere.test: %v, want not found", tcp, err)
		}
		_, err = r.LookupMX(ctx, "servfail.test.")
		if !errors.As(err, &de) || de.IsNotFound {
			t.Errorf("tcp=%v servfail.test: %v, want a temporary failure", tcp, err)
		}
	}
	if s.Hits("a.test") == 0 {
		t.Error("Hits(a.test) = 0")
	}
	if got := reverse(netip.MustParseAddr("::1")); got != "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa" {
		t.Errorf("reverse(::1) = %s", got)
	}
}
