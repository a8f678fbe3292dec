// SPDX-License-Identifier: MIT

package imapd

import (
	"math/rand/v2"
	"net/mail"
	"testing"
	"time"
)

// checkDateFast fails when parseDateFast accepts s but reads it other
// than mail.ParseDate does (it may decline anything, which then goes to
// mail.ParseDate).
func checkDateFast(t *testing.T, s string) {
	t.Helper()
	got, ok := parseDateFast(s)
	if !ok {
		return
	}
	want, err := mail.ParseDate(s)
	if err != nil {
		t.Fatalf("%q: fast path accepts, mail.ParseDate: %v", s, err)
	}
	_, go1 := got.Zone()
	_, wo := want.Zone()
	if !got.Equal(want) || go1 != wo {
		t.Fatalf("%q: fast path %v, mail.ParseDate %v", s, got, want)
	}
	if f, w := got.Format(time.RFC1123Z), want.Format(time.RFC1123Z); f != w {
		t.Fatalf("%q: formats as %q, mail.ParseDate's as %q", s, f, w)
	}
}

// TestParseDateFast: ENVELOPE's date fast path agrees with mail.ParseDate
// on the dates it takes, and takes the common ones.
func TestParseDateFast(t *testing.T) {
	for _, s := range []string{
		"Fri, 27 Nov 2026 01:01:09 +0000", "Fri, 27 Nov 2026 01:01:09 -0700", "27 Nov 2026 01:01:09 +0530",
		"Sun, 1 Feb 2026 23:59:59 +1400",
	} {
		if _, ok := parseDateFast(s); !ok {
			t.Errorf("%q: not taken by the fast path", s)
		}
		checkDateFast(t, s)
	}
	for _, s := range []string{
		"", "Fri, 27 Nov 2026 01:01:09", "Xyz, 27 Nov 2026 01:01:09 +0000", "Fri, 31 Nov 2026 01:01:09 +0000",
		"Fri, 29 Feb 2026 01:01:09 +0000", "Fri, 27 Nov 2026 24:01:09 +0000", "Fri, 27 Nov 2026 01:60:09 +0000",
		"Fri, 27 Nov 2026 01:01:60 +0000", "Fri, 27 Nov 2026 01:01:09 +2500", "Fri, 27 Nov 2026 01:01:09 +0060",
		"Fri, 27 Foo 2026 01:01:09 +0000", "Fri, 0 Nov 2026 01:01:09 +0000", "Fri, 027 Nov 2026 01:01:09 +0000",
		"Fri, 27 Nov 2026 01:01:09 GMT", "Fri, 27 Nov 2026 01:01:09 +0000 (UTC)", "Fri,  27 Nov 2026 01:01:09 +0000",
	} {
		checkDateFast(t, s)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		d := time.Unix(r.Int64N(5e9), 0).In(time.FixedZone("", (r.IntN(57)-28)*1800))
		s := d.Format("Mon, 2 Jan 2006 15:04:05 -0700")
		if r.IntN(4) == 0 {
			s = s[5:]
		}
		if _, ok := parseDateFast(s); !ok {
			t.Errorf("%q: not taken by the fast path", s)
		}
		checkDateFast(t, s)
	}
}

// FuzzParseDateFast: on any input, the fast path agrees with
// mail.ParseDate whenever it accepts.
func FuzzParseDateFast(f *testing.F) {
	for _, s := range []string{"Fri, 27 Nov 2026 01:01:09 +0000", "27 Nov 2026 01:01:09 -0700", "Mon, 29 Feb 2028 00:00:00 +2400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkDateFast(t, s) })
}
