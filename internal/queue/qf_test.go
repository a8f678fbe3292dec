// SPDX-License-Identifier: MIT

package queue

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestRoundTripReal reads every qf sendmail wrote and writes it back:
// the bytes must be the same.
func TestRoundTripReal(t *testing.T) {
	for _, name := range realSamples(t) {
		t.Run(name, func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join("testdata", "real", name, "qf*"))
			if err != nil || len(files) != 1 {
				t.Fatalf("want one qf in %s: %v %v", name, files, err)
			}
			orig, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			env, err := ReadEnvelope(bytes.NewReader(orig))
			if err != nil {
				t.Fatalf("ReadEnvelope: %v", err)
			}
			if diff := cmp.Diff(string(orig), string(env.Bytes())); diff != "" {
				t.Errorf("round trip (-sendmail +ours):\n%s", diff)
			}
		})
	}
}

// TestReadReal pins what the fields of one real file mean.
func TestReadReal(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "real", "esmtp-8bit", "qf6AR3DECV010315"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := ReadEnvelope(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	want := &Envelope{
		Version: 8, Created: 1795749194, Priority: 90117,
		BodyType: "8BITMIME", Flags: "8bdns",
		Macros: []Macro{{"_", "root@localhost"}, {"r", "ESMTP"}, {"s", "localhost"}, {"daemon_flags", "c u"}},
		Sender: "<a@hamap.local>", EnvID: "env-42",
		Recipients: []Recipient{
			{ORcpt: "rfc822;orig-b@hamap.local", Final: "RFC822; root@hamap.local", Flags: "PNSF", Addr: "<root@hamap.local>"},
			{Final: "RFC822; nobody@hamap.local", Flags: "PN", Addr: "<nobody@hamap.local>"},
			{Final: "RFC822; d@outside.example", Flags: "PND", Addr: "<d@outside.example>"},
		},
		Headers: []Header{
			{Cond: "P", Name: "Return-Path", Value: " <\x81g>"},
			{Name: "Received", Value: " from localhost (root@localhost)\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) with ESMTP id 6AR3DECV010315;\n\tFri, 27 Nov 2026 03:13:14 GMT"},
			{Cond: "D", Name: "Date", Value: " Fri, 27 Nov 2026 03:13:14 GMT"},
			{Cond: "M", Name: "Message-Id", Value: " <202611270313.6AR3DECV010315@mail.hamap.local>"},
			{Name: "From", Value: " A <a@hamap.local>"},
			{Name: "To", Value: " b@hamap.local"},
			{Name: "Bcc", Value: " hidden@hamap.local"},
			{Name: "Subject", Value: " caf\xc3\xa9 8bit"},
			{Name: "X-Long", Value: " one\n two"},
		},
	}
	if diff := cmp.Diff(want, env, cmpopts.IgnoreUnexported(Header{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReadEnvelopeLines(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    *Envelope
		wantErr string
	}{
		{name: "minimal", in: "V8\nT1\nK0\nN0\nP5\nSa\nRP:b\n.\n",
			want: &Envelope{Version: 8, Created: 1, Priority: 5, Sender: "a", Recipients: []Recipient{{Flags: "P", Addr: "b"}}}},
		{name: "controlling user and per-recipient status",
			in: "V8\nT1\nK2\nN3\nP4\nd/q2\nI8/1/99\nqheld\nMDeferred\nFw\n${auth_type}PLAIN\nSa\nAa@b\n!R 3600\n" +
				"MDeferred: one\nCb:1000:1000:alias@x\nQrfc822;o@x\nrRFC822; b@x\nRPA:b@x\nC\nRP:c@x\nH?${auth_type}?X-Auth: yes\nHOld: bare\n.\n",
			want: &Envelope{Version: 8, Created: 1, LastAttempt: 2, Attempts: 3, Priority: 4, DataDir: "/q2", Inode: "8/1/99",
				Quarantine: "held", Message: "Deferred", Flags: "w", Macros: []Macro{{"auth_type", "PLAIN"}},
				Sender: "a", Auth: "a@b", DeliverBy: "R 3600",
				Recipients: []Recipient{
					{Message: "Deferred: one", Ctl: "b:1000:1000:alias@x", ORcpt: "rfc822;o@x", Final: "RFC822; b@x", Flags: "PA", Addr: "b@x"},
					{Flags: "P", Addr: "c@x"},
				},
				Headers: []Header{{Cond: "${auth_type}", Name: "X-Auth", Value: " yes"}, {Name: "Old", Value: " bare", bare: true}}}},
		{name: "obsolete lines ignored", in: "V8\nT1\nDdfX\nEerr\nLlen\nSa\n.\n",
			want: &Envelope{Version: 8, Created: 1, Sender: "a"}},
		{name: "crlf", in: "V8\r\nT1\r\nSa\r\n.\r\n", want: &Envelope{Version: 8, Created: 1, Sender: "a"}},
		{name: "empty file", in: "", wantErr: "incomplete"},
		{name: "no version: old recipient lines", in: "T1\nSa\nRb:c@d\n.\n", want: &Envelope{Version: 8, Created: 1, Sender: "a", Recipients: []Recipient{{Flags: "P", Addr: "b:c@d"}}}},
		{name: "no final dot", in: "V8\nT1\nSa\n", wantErr: "incomplete"},
		{name: "cut mid line", in: "V8\nT1\nSa", wantErr: "incomplete"},
		{name: "data after dot", in: "V8\n.\nRP:evil@x\n", wantErr: "bogus queue line"},
		{name: "unknown letter", in: "V8\nX1\n.\n", wantErr: "unrecognized line"},
		{name: "empty line", in: "V8\n\n.\n", wantErr: "unrecognized line"},
		{name: "newer version", in: "V9\n.\n", wantErr: "unsupported queue file version"},
		{name: "bad body type", in: "V8\nBBINARY\n.\n", wantErr: "bogus queue line"},
		{name: "bad auth xtext", in: "V8\nAa=b\n.\n", wantErr: "bogus queue line"},
		{name: "spoofed From line", in: "V8\nFrom x\n.\n", wantErr: "bogus queue line"},
		{name: "dangling ORCPT", in: "V8\nSa\nQrfc822;x\n.\n", wantErr: "without its recipient"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, err := ReadEnvelope(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, env, cmp.AllowUnexported(Header{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// What we read, we write back the way sendmail would.
			again, err := ReadEnvelope(bytes.NewReader(env.Bytes()))
			if err != nil {
				t.Fatalf("reading our own output: %v\n%s", err, env.Bytes())
			}
			if diff := cmp.Diff(env, again, cmp.AllowUnexported(Header{})); diff != "" {
				t.Errorf("write/read (-first +second):\n%s", diff)
			}
		})
	}
	var serr *SyntaxError
	if _, err := ReadEnvelope(strings.NewReader("V8\nX\n.\n")); !errors.As(err, &serr) || serr.Line != 2 {
		t.Errorf("want a SyntaxError on line 2, got %v", err)
	}
}

// TestWriteSanitizes: newlines in values cannot add lines to the file
// (sendmail's denlstring), except the folds of a header.
func TestWriteSanitizes(t *testing.T) {
	env := &Envelope{Sender: "a\nRP:evil@x", Message: "two\r\nlines",
		Recipients: []Recipient{{Flags: "P", Addr: "b\n.\n"}},
		Headers:    []Header{{Name: "Subject", Value: " one\n\ttwo\nRP:evil"}}}
	got := string(env.Bytes())
	want := "V8\nT0\nK0\nN0\nP0\nMtwo lines\nSa RP:evil@x\nRP:b . \nH??Subject: one\n\ttwo RP:evil\n.\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	back, err := ReadEnvelope(strings.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Recipients) != 1 {
		t.Errorf("recipients: %+v", back.Recipients)
	}
}

func TestFormatID(t *testing.T) {
	cases := []struct {
		t    time.Time
		seq  int
		pid  int
		want string
	}{
		// The ids sendmail 8.17 gave the vectors in testdata/real.
		{time.Date(2026, 11, 27, 3, 10, 44, 0, time.UTC), 5*60 + 23, 2544, "6AR3Ai5N002544"},
		{time.Date(2026, 11, 27, 3, 13, 14, 0, time.UTC), 12*60 + 31, 10315, "6AR3DECV010315"},
		// 1999 % 60 = 39 ("d"), January = 0, seven-digit pids stay whole.
		{time.Date(1999, 1, 1, 0, 0, 59, 0, time.UTC), 3599, 1234567, "d0100xxx1234567"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if got := formatID(tc.t, tc.seq, tc.pid); got != tc.want {
				t.Errorf("formatID = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIDsUniqueAndWait(t *testing.T) {
	base := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	clock := base
	slept := 0
	g := &idGen{now: func() time.Time { return clock }, sleep: func(time.Duration) { slept++; clock = clock.Add(time.Second) }}
	seen := map[string]bool{}
	for i := 0; i < 2*seqPerSecond+10; i++ {
		id := g.next()
		if seen[id] {
			t.Fatalf("duplicate id %s after %d", id, i)
		}
		seen[id] = true
		if len(id) < 14 || !validID(id) {
			t.Fatalf("bad id %q", id)
		}
	}
	if slept != 2 {
		t.Errorf("slept %d times, want 2 (one per exhausted second)", slept)
	}
	// A new second starts a new base: the time part follows the clock.
	clock = base.Add(time.Hour)
	if id := g.next(); id[:6] != formatID(clock, 0, 0)[:6] {
		t.Errorf("id %s does not carry the time %v", id, clock)
	}
}

// TestPriority: the P lines sendmail wrote for the real samples.
func TestPriority(t *testing.T) {
	cases := []struct {
		name          string
		size          int64
		class, nrcpts int
		want          int64
	}{
		// "Subject: test 1\nFrom: a@hamap.local\n\nhello\n" to two
		// recipients (local-odq).
		{"local-odq", 43, 0, 2, 60043},
		// A 25-byte message to one recipient (null-sender-deferred),
		// then after two failed attempts (deferred-twice).
		{"null-sender", 25, 0, 2, 60025},
		{"bulk class", 1000, -60, 1, 1000 + 60*1800 + 30000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Priority(tc.size, tc.class, tc.nrcpts); got != tc.want {
				t.Errorf("Priority = %d, want %d", got, tc.want)
			}
		})
	}
	// Each queue run adds RetryFactor when it reads the file (the
	// attempt made right at acceptance does not): null-sender-deferred
	// (N1, P60025) became deferred-twice (N2, P150025).
	if got := int64(60025) + RetryFactor; got != 150025 {
		t.Errorf("after one queue run: %d, want 150025", got)
	}
}
