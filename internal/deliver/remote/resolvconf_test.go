// SPDX-License-Identifier: MIT

package remote

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailsuite/internal/testutil/dnstest"
)

func TestSystemResolverFromEnv(t *testing.T) {
	dns := dnstest.New(t)
	dns.AddA("mx.env.test", "127.0.0.25")
	dir := t.TempDir()
	p, err := dns.WriteResolvConf(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(ResolvConfEnv, p)
	r, err := SystemResolver()
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := r.LookupNetIP(context.Background(), "ip4", "mx.env.test.")
	if err != nil || len(addrs) != 1 || addrs[0].String() != "127.0.0.25" {
		t.Fatalf("lookup through %s: %v %v", p, addrs, err)
	}

	for _, tc := range []struct{ text, wantErr string }{
		{"search x\n", "no nameserver line"},
		{"nameserver 127.0.0.1:x\n", "line 1: bad nameserver"},
		{"nameserver banana\n", "line 1: bad nameserver"},
	} {
		bad := filepath.Join(dir, "bad.conf")
		os.WriteFile(bad, []byte(tc.text), 0o644)
		if _, err := ResolverFromFile(bad); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: err %v, want %q", tc.text, err, tc.wantErr)
		}
	}
	for in, want := range map[string]string{"127.0.0.1": "127.0.0.1:53", "::1": "[::1]:53", "[::1]:5353": "[::1]:5353", "127.0.0.2:99": "127.0.0.2:99"} {
		if got, err := nameserver(in); err != nil || got != want {
			t.Errorf("nameserver(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func FuzzParseResolvConf(f *testing.F) {
	for _, s := range []string{"nameserver 127.0.0.1\n", "# c\nsearch x\nnameserver [::1]:5353\nnameserver 10.0.0.1:53\n",
		"nameserver\n", "nameserver 1.2.3.4:99999\n", "options ndots:2\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		servers, err := parseResolvConf(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, sv := range servers {
			if _, _, err := net.SplitHostPort(sv); err != nil {
				t.Fatalf("%q gave %q: %v", s, sv, err)
			}
		}
	})
}
