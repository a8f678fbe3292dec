// SPDX-License-Identifier: MIT

package queue

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// ourListing runs List the way the differential tests compare it:
// QueueLA as high as the test cf sets it, so that the "X" marker does not
// depend on the machine's load.
func ourListing(t *testing.T, dir string, o ListOptions) string {
	t.Helper()
	if o.QueueLA == 0 {
		o.QueueLA = 1000
	}
	var b bytes.Buffer
	if _, err := List(&b, dir, o); err != nil {
		t.Fatalf("List: %v", err)
	}
	return b.String()
}

// writeOurs queues a message with our writer.
func writeOurs(t *testing.T, q *Queue, env *Envelope, body string) string {
	t.Helper()
	id := q.NewID()
	p, err := q.Prepare(context.Background(), id, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(env); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestListMatchesSendmail(t *testing.T) {
	now := time.Now().Unix()
	ours := []struct {
		name string
		env  Envelope
		body string
	}{
		{"plain", Envelope{Priority: 30100, Sender: "<a@hamap.local>",
			Recipients: []Recipient{{Flags: "PFD", Addr: "<b@hamap.local>", Final: "RFC822; b@hamap.local"}},
			Headers:    []Header{{Name: "Subject", Value: " hi"}}}, "hello\n"},
		{"deferred-8bit", Envelope{Created: now - 7200, LastAttempt: now - 60, Attempts: 3, Priority: 300200,
			BodyType: "8BITMIME", Message: "Deferred: Connection refused by [127.0.0.1]", Flags: "8w",
			Sender: "<sender-with-a-very-long-address-that-is-cut@outside.example>",
			Recipients: []Recipient{
				{Flags: "PNF", Addr: "<r1@outside.example>", Message: "Deferred: per-recipient"},
				{Flags: "P", Addr: "<" + strings.Repeat("x", 50) + "@outside.example>"},
			}}, "caf\xc3\xa9\n"},
		{"escapes", Envelope{Priority: 100, Sender: "<a\\b\x01\xff@hamap.local>",
			Quarantine: "held for review",
			Recipients: []Recipient{{Flags: "P", Addr: "x\\\\y\x7f@z", Ctl: "user:1000:1000:alias"}, {Flags: "P", Addr: "plain@z"}}}, ""},
		{"no-colon-rcpt", Envelope{Priority: 5, Sender: "s@x", Recipients: []Recipient{{Flags: "P", Addr: "a@b"}}}, "x\n"},
	}
	// A recipient line without the colon cannot be made through the
	// writer; the last case rewrites its file by hand.

	cases := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		opts    ListOptions
		flags   []string
		lockOne bool
		// stars is how many entries must be marked locked ("*").
		stars int
	}{
		{name: "empty", setup: func(t *testing.T, dir string) {}},
		{name: "real-all", setup: func(t *testing.T, dir string) {
			copyVectors(t, dir, "local-odq", "esmtp-8bit", "null-sender-deferred")
		}},
		{name: "real-all-verbose", flags: []string{"-v"}, opts: ListOptions{Verbose: true}, setup: func(t *testing.T, dir string) {
			copyVectors(t, dir, "local-odq", "esmtp-8bit", "deferred-twice")
		}},
		{name: "real-sort-by-time", flags: []string{"-OQueueSortOrder=time"}, opts: ListOptions{SortOrder: "time"}, setup: func(t *testing.T, dir string) {
			copyVectors(t, dir, "local-odq", "esmtp-8bit", "deferred-twice")
		}},
		{name: "real-sort-by-filename", flags: []string{"-OQueueSortOrder=filename"}, opts: ListOptions{SortOrder: "filename"}, setup: func(t *testing.T, dir string) {
			copyVectors(t, dir, "local-odq", "esmtp-8bit", "deferred-twice")
		}},
		// The lock on one job to outside.example marks every job to
		// that host (sortq's host order).
		{name: "real-sort-by-host-locked", lockOne: true, stars: 3, flags: []string{"-OQueueSortOrder=host"}, opts: ListOptions{SortOrder: "host"}, setup: func(t *testing.T, dir string) {
			copyVectors(t, dir, "local-odq", "esmtp-8bit", "deferred-twice")
			q := openTestQueue(t, dir, Options{})
			for i, r := range []string{"x@Outside.Example", "y@hamap.local", "z@another.example", "w@outside.example"} {
				env := relayEnvelope(r)
				env.Priority = int64(1000 * (4 - i))
				writeOurs(t, q, env, "x\n")
			}
			env := relayEnvelope()
			env.Recipients = []Recipient{{Flags: "P", Addr: "nohost"}}
			writeOurs(t, q, env, "x\n")
		}},
		{name: "real-too-young", flags: []string{"-OMinQueueAge=10000d"}, opts: ListOptions{MinQueueAge: 10000 * 24 * time.Hour}, setup: func(t *testing.T, dir string) {
			copyVectors(t, dir, "local-odq", "deferred-twice")
		}},
		{name: "real-locked", lockOne: true, stars: 1, setup: func(t *testing.T, dir string) {
			copyVectors(t, dir, "deferred-twice")
		}},
		{name: "qf-without-df", setup: func(t *testing.T, dir string) {
			copyVectors(t, dir, "local-odq", "esmtp-8bit")
			os.Remove(filepath.Join(dir, "df6AR3DAqd010180"))
		}},
		{name: "ours", setup: func(t *testing.T, dir string) {
			q, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range ours {
				env := c.env
				id := writeOurs(t, q, &env, c.body)
				if c.name == "no-colon-rcpt" {
					qf := filepath.Join(dir, "qf"+id)
					b, _ := os.ReadFile(qf)
					b = bytes.Replace(b, []byte("RP:a@b"), []byte("Rnocolon"), 1)
					os.WriteFile(qf, b, 0o600)
				}
			}
		}},
		{name: "ours-verbose", flags: []string{"-v"}, opts: ListOptions{Verbose: true}, setup: func(t *testing.T, dir string) {
			q, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range ours[:3] {
				env := c.env
				writeOurs(t, q, &env, c.body)
			}
		}},
		{name: "foreign-files", setup: func(t *testing.T, dir string) {
			copyVectors(t, dir, "local-odq")
			os.WriteFile(filepath.Join(dir, "xf6AR3DAqd010180"), []byte("transcript\n"), 0o600)
			os.WriteFile(filepath.Join(dir, "Qf6AR3DAqd999999"), []byte("lost\n"), 0o600)
			os.WriteFile(filepath.Join(dir, "tf6AR3DAqd999998"), []byte("V8\n"), 0o600)
			os.Mkdir(filepath.Join(dir, "qfdir"), 0o700)
		}},
		{name: "no-T-line", setup: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "qf6AR3DAqd000001"), []byte("V8\nP10\nSa@b\nRP:c@d\n.\n"), 0o600)
			os.WriteFile(filepath.Join(dir, "df6AR3DAqd000001"), []byte("x\n"), 0o600)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := queueDir(t)
			real := newRealSendmail(t, dir, 2599)
			tc.setup(t, dir)
			if tc.lockOne {
				f, err := os.Open(filepath.Join(dir, "qf6AR3DJZE010507"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
					t.Fatal(err)
				}
			}
			want := real.listing(t, tc.flags...)
			got := ourListing(t, dir, tc.opts)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("listing differs from sendmail -bp (-want +got):\n%s", diff)
			}
			if tc.lockOne && !strings.Contains(got, "6AR3DJZE010507*") {
				t.Errorf("locked entry not marked:\n%s", got)
			}
			stars := 0
			for _, line := range strings.Split(got, "\n") {
				if len(line) > 14 && line[14] == '*' {
					stars++
				}
			}
			if stars != tc.stars {
				t.Errorf("%d entries marked locked, want %d:\n%s", stars, tc.stars, got)
			}
		})
	}
}

// TestListMarkers checks the markers whose conditions the differential
// test cannot set up reliably (the load average).
func TestListMarkers(t *testing.T) {
	dir := t.TempDir()
	copyVectors(t, dir, "local-odq", "esmtp-8bit")
	cases := []struct {
		name string
		la   int
		want map[string]string
	}{
		{"low load", 3, map[string]string{"6AR3DAqd010180": " ", "6AR3DECV010315": " "}},
		// QueueLA 8, load 10: jobs above 600000/3 = 200000 wait;
		// both priorities are lower.
		{"high load", 10, map[string]string{"6AR3DAqd010180": " ", "6AR3DECV010315": " "}},
		// Load 40: the limit is 600000/33 = 18181.
		{"very high load", 40, map[string]string{"6AR3DAqd010180": "X", "6AR3DECV010315": "X"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			la := tc.la
			if _, err := List(&b, dir, ListOptions{QueueLA: 8, LoadAverage: func() int { return la }}); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, line := range strings.Split(b.String(), "\n") {
				if len(line) > 15 && strings.HasPrefix(line, "6AR3") {
					got[line[:14]] = line[14:15]
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("markers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrtstr(t *testing.T) {
	cases := []struct {
		in   string
		ml   int
		want string
	}{
		{"abc", 39, "abc"},
		{"abcdef", 3, "abc"},
		{`a\b`, 39, `a\\b`},
		{`ab\`, 3, `ab`},
		{"a\x01b", 39, `a\001b`},
		{"a\xffb", 4, `a`},
		{"a\xffb", 6, `a\377b`},
		{"\x7f", 5, `\177`},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			var b bytes.Buffer
			w := bufio.NewWriter(&b)
			prtstr(w, tc.in, tc.ml)
			w.Flush()
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("prtstr(%q, %d) (-want +got):\n%s", tc.in, tc.ml, diff)
			}
		})
	}
}
