// SPDX-License-Identifier: MIT

package deliver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The Mlocal flags of the anchor's cf (FEATURE(local_procmail)).
const anchorFlags = "lsDFMAw5:/|@qSPfhn9"

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestAnchorMbox rebuilds the anchor's /var/mail/b entries (reference
// anchor-behaviour.md §5.3 and §5.5) from the message as the client sent
// it: the headers Sendmail adds plus procmail's mbox framing.
func TestAnchorMbox(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    Envelope
		sender string
		at     string
	}{
		{"anchor-smtp", Envelope{
			QID: "6AR119G3019841", Sender: "a@hamap.local", Recipients: []string{"<b@hamap.local>"},
			Proto: "ESMTP", Helo: "[127.0.0.20]", ClientAddr: "127.0.0.20", Hostname: "mail.hamap.local",
			Arrival: mustTime(t, "2026-11-27T01:01:09Z"),
		}, "a@hamap.local", "2026-11-27T01:01:09Z"},
		{"anchor-cmdline", Envelope{
			QID: "6AR11ZRl020689", Sender: "root", HeaderSender: "root@mail.hamap.local",
			Recipients: []string{"b@hamap.local"}, HeaderRecipients: true,
			LocalUser: "root", Hostname: "mail.hamap.local",
			Arrival: mustTime(t, "2026-11-27T01:01:35Z"),
		}, "root", "2026-11-27T01:01:35Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := os.Open(filepath.Join("testdata", tc.name+".in"))
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			want, err := os.ReadFile(filepath.Join("testdata", tc.name+".want"))
			if err != nil {
				t.Fatal(err)
			}
			msg, err := NewMessage(&tc.env, anchorFlags, in)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			w := bufio.NewWriter(&out)
			if err := WriteMbox(w, tc.sender, mustTime(t, tc.at), msg); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			if d := cmp.Diff(string(want), out.String()); d != "" {
				t.Errorf("mbox bytes (-anchor +ours):\n%s", d)
			}
		})
	}
}

func TestReceivedForms(t *testing.T) {
	at := mustTime(t, "2026-11-27T01:01:09Z")
	for _, tc := range []struct {
		name string
		env  Envelope
		want string
	}{
		{"ip literal helo", Envelope{Helo: "[127.0.0.20]", ClientAddr: "127.0.0.20", Proto: "ESMTP", Recipients: []string{"<b@hamap.local>"}},
			"Received: from [127.0.0.20] ([127.0.0.20])\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) with ESMTP id Q\n\tfor <b@hamap.local>; Fri, 27 Nov 2026 01:01:09 GMT\n"},
		{"helo unnamed client", Envelope{Helo: "somepc", ClientAddr: "127.1.0.5", Proto: "SMTP", Recipients: []string{"<b@hamap.local>"}},
			"Received: from somepc ([127.1.0.5])\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) with SMTP id Q\n\tfor <b@hamap.local>; Fri, 27 Nov 2026 01:01:09 GMT\n"},
		{"validated name", Envelope{Helo: "x", ClientName: "pc7.hamap.local", ClientAddr: "127.1.0.7", Proto: "ESMTP", Recipients: []string{"<b@hamap.local>"}},
			"Received: from x (pc7.hamap.local [127.1.0.7])\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) with ESMTP id Q\n\tfor <b@hamap.local>; Fri, 27 Nov 2026 01:01:09 GMT\n"},
		{"two recipients", Envelope{Helo: "x", ClientAddr: "127.1.0.7", Proto: "ESMTP", Recipients: []string{"<b@hamap.local>", "<a@hamap.local>"}},
			"Received: from x ([127.1.0.7])\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) with ESMTP id Q;\n\tFri, 27 Nov 2026 01:01:09 GMT\n"},
		{"command line", Envelope{LocalUser: "root", Recipients: []string{"b@hamap.local"}, HeaderRecipients: true},
			"Received: (from root@localhost)\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) id Q;\n\tFri, 27 Nov 2026 01:01:09 GMT\n"},
		{"command line one recipient", Envelope{LocalUser: "a", Recipients: []string{"b"}},
			"Received: (from a@localhost)\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) id Q\n\tfor b; Fri, 27 Nov 2026 01:01:09 GMT\n"},
		{"authenticated", Envelope{Helo: "pc", ClientAddr: "127.0.0.20", Proto: "ESMTPA", AuthType: "PLAIN", AuthSSF: "0", Recipients: []string{"<b@hamap.local>"}},
			"Received: from pc ([127.0.0.20])\n\t(authenticated bits=0)\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) with ESMTPA id Q\n\tfor <b@hamap.local>; Fri, 27 Nov 2026 01:01:09 GMT\n"},
		{"tls", Envelope{Helo: "pc", ClientAddr: "127.0.0.20", Proto: "ESMTPS", TLSVersion: "TLSv1.3", Cipher: "TLS_AES_256_GCM_SHA384", CipherBits: "256", Verify: "NO"},
			"Received: from pc ([127.0.0.20])\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) with ESMTPS id Q\n\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256 verify=NO);\n\tFri, 27 Nov 2026 01:01:09 GMT\n"},
		{"forged", Envelope{Helo: "x", ClientName: "pc7.hamap.local", ClientAddr: "127.1.0.7", Forged: true, Proto: "SMTP"},
			"Received: from x (pc7.hamap.local [127.1.0.7] (may be forged))\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) with SMTP id Q;\n\tFri, 27 Nov 2026 01:01:09 GMT\n"},
		{"no helo", Envelope{ClientAddr: "127.1.0.5", Proto: "SMTP"},
			"Received: (from [127.1.0.5])\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) with SMTP id Q;\n\tFri, 27 Nov 2026 01:01:09 GMT\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.env
			e.QID, e.Hostname, e.Arrival = "Q", "mail.hamap.local", at
			if d := cmp.Diff(tc.want, e.Received()); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestMissingHeaders is the anchor's probe: a message with only Subject:
// gets Date, From and Message-Id after Return-Path and Received.
func TestMissingHeaders(t *testing.T) {
	at := mustTime(t, "2026-11-27T00:58:07Z")
	e := &Envelope{QID: "6AR0w7ab012345", Sender: "a@hamap.local", Helo: "[127.0.0.20]", ClientAddr: "127.0.0.20",
		Proto: "ESMTP", Recipients: []string{"<b@hamap.local>"}, Hostname: "mail.hamap.local", Arrival: at}
	for _, tc := range []struct {
		name, flags, in, want string
	}{
		{"subject only", anchorFlags, "Subject: s\r\n\r\nbody\r\n",
			"Return-Path: <a@hamap.local>\n" + e.Received() + "Date: Fri, 27 Nov 2026 00:58:07 GMT\nFrom: a@hamap.local\n" +
				"Message-Id: <202611270058.6AR0w7ab012345@mail.hamap.local>\nSubject: s\n\nbody\n"},
		{"all present", anchorFlags, "FROM: x\ndate: d\nMessage-ID: <m>\n\nbody",
			"Return-Path: <a@hamap.local>\n" + e.Received() + "FROM: x\ndate: d\nMessage-ID: <m>\n\nbody"},
		{"relay mailer flags", "mDFMuXa8", "Subject: s\n\nb\n",
			e.Received() + "Date: Fri, 27 Nov 2026 00:58:07 GMT\nFrom: a@hamap.local\nMessage-Id: <202611270058.6AR0w7ab012345@mail.hamap.local>\nSubject: s\n\nb\n"},
		{"resent", "DFM", "Resent-To: c\nFrom: x\nDate: d\nMessage-Id: <m>\n\n",
			e.Received() + "Resent-Date: Fri, 27 Nov 2026 00:58:07 GMT\nResent-From: a@hamap.local\nResent-Message-Id: <202611270058.6AR0w7ab012345@mail.hamap.local>\nResent-To: c\nFrom: x\nDate: d\nMessage-Id: <m>\n\n"},
		{"no header at all", "P", "just a body line\n",
			"Return-Path: <a@hamap.local>\n" + e.Received() + "just a body line\n"},
		{"folded header", "P", "Subject: a\r\n b\r\n\r\nx\r\n",
			"Return-Path: <a@hamap.local>\n" + e.Received() + "Subject: a\n b\n\nx\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewMessage(e, tc.flags, strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, string(got)); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestArpaDate(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	est := time.FixedZone("EST", -5*3600)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 11, 27, 1, 1, 9, 0, time.UTC), "Fri, 27 Nov 2026 01:01:09 GMT"},
		{time.Date(2026, 11, 7, 9, 0, 0, 0, cet), "Sat, 7 Nov 2026 09:00:00 +0100"},
		{time.Date(2026, 1, 2, 23, 59, 59, 0, est), "Fri, 2 Jan 2026 23:59:59 -0500"},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 5*3600+1800)), "Fri, 2 Jan 2026 03:04:05 +0530"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := ArpaDate(tc.t); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzHeaders checks that NewMessage never loses or reorders the message:
// its output is the added headers followed by the input with CRLF made LF.
func FuzzHeaders(f *testing.F) {
	for _, s := range []string{"Subject: s\r\n\r\nbody\r\n", "From: x\nDate: y\n\n", "", "\r\n", "no header\n", " cont\nX: y\n\n",
		"Resent-From: a\n\nb", "A: " + strings.Repeat("x", 70000) + "\r\n\r\nb\r", "X:\r\r\n\r\n"} {
		f.Add(s, "PDFM")
	}
	e := &Envelope{QID: "Q", Sender: "a@b", Hostname: "h", Arrival: time.Unix(0, 0).UTC()}
	f.Fuzz(func(t *testing.T, in, flags string) {
		r, err := NewMessage(e, flags, strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		body := strings.ReplaceAll(in, "\r\n", "\n")
		if !strings.HasSuffix(string(got), body) {
			t.Fatalf("output does not end with the message:\n%q\n%q", got, body)
		}
		prefix := string(got[:len(got)-len(body)])
		if !strings.Contains(prefix, "Received: ") || !strings.HasSuffix(prefix, "\n") {
			t.Fatalf("bad prefix %q", prefix)
		}
		if strings.Contains(flags, "P") != strings.HasPrefix(prefix, "Return-Path: <a@b>\n") {
			t.Fatalf("Return-Path vs flags %q: %q", flags, prefix)
		}
	})
}

// TestOrigin: an added Date: shows $a, the time the envelope started,
// while Received and Message-Id show the arrival.
func TestOrigin(t *testing.T) {
	e := &Envelope{QID: "Q", Sender: "a@b", LocalUser: "root", Hostname: "h",
		Arrival: mustTime(t, "2026-11-27T03:32:00Z"), Origin: mustTime(t, "2026-11-27T03:31:59Z")}
	got := e.Prefix("DM", func(string) bool { return false })
	want := "Received: (from root@localhost)\n\tby h (8.17.1.9/8.17.1.9) id Q;\n\tFri, 27 Nov 2026 03:32:00 GMT\n" +
		"Date: Fri, 27 Nov 2026 03:31:59 GMT\nMessage-Id: <202611270332.Q@h>\n"
	if d := cmp.Diff(want, got); d != "" {
		t.Error(d)
	}
}

// TestNewMessageReaderReuse: a message read to its end gives its buffer
// back for the next message, and reading it again gives only the end,
// never the next message's bytes; messages read at once keep apart.
func TestNewMessageReaderReuse(t *testing.T) {
	e := &Envelope{QID: "6AR0w7ab012345", Sender: "a@hamap.local", Hostname: "mail.hamap.local"}
	body := func(i int) string {
		return fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat(fmt.Sprint(i), 5000))
	}
	a, err := NewMessage(e, "", strings.NewReader(body(1)))
	if err != nil {
		t.Fatal(err)
	}
	gotA, _ := io.ReadAll(a)
	b, err := NewMessage(e, "", strings.NewReader(body(2)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewMessage(e, "", strings.NewReader(body(3)))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := a.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("read after the end: %d, %v", n, err)
	}
	// b and c in alternation.
	var gotB, gotC []byte
	p := make([]byte, 700)
	for doneB, doneC := false, false; !doneB || !doneC; {
		if !doneB {
			n, err := b.Read(p)
			gotB = append(gotB, p[:n]...)
			doneB = err == io.EOF
		}
		if !doneC {
			n, err := c.Read(p)
			gotC = append(gotC, p[:n]...)
			doneC = err == io.EOF
		}
	}
	// The envelope has no arrival time, so each gets the same
	// Received line in front.
	for i, got := range [][]byte{gotA, gotB, gotC} {
		if want := e.Received() + strings.ReplaceAll(body(i+1), "\r\n", "\n"); string(got) != want {
			t.Errorf("message %d: got %d bytes, want %d:\n%.300q", i+1, len(got), len(want), got)
		}
	}
}
