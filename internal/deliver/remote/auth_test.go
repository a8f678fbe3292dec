// SPDX-License-Identifier: MIT

package remote

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAuthInfo(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want authInfo
		ok   bool
	}{
		{`"U:smmsp" "P:secret" "M:DIGEST-MD5 plain"`, authInfo{user: "smmsp", authid: "smmsp", password: "secret", mechs: []string{"DIGEST-MD5", "PLAIN"}}, true},
		{`"U:root" "I:user" "P=c2VjcmV0"`, authInfo{user: "root", authid: "user", password: "secret"}, true},
		{`"U:nopass"`, authInfo{user: "nopass", authid: "nopass"}, false},
		{`"P:only"`, authInfo{password: "only"}, false},
		{`U:bare P:word`, authInfo{user: "bare", authid: "bare", password: "word"}, true},
		{`"U:x" "P:unterminated`, authInfo{user: "x", authid: "x", password: "unterminated"}, true},
	} {
		got, ok := parseAuthInfo(tc.in)
		if ok != tc.ok || !cmp.Equal(got, tc.want, cmp.AllowUnexported(authInfo{})) {
			t.Errorf("parseAuthInfo(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseAuthInfo(f *testing.F) {
	for _, s := range []string{`"U:smmsp" "P:secret" "M:PLAIN"`, `"I:a" "P=!!"`, `""`, `"`, `U:a P:b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := parseAuthInfo(s)
		if ok && a.authid == "" {
			t.Fatalf("%q: ok without an authentication id: %+v", s, a)
		}
	})
}
