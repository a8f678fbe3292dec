// SPDX-License-Identifier: MIT

package mbox

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// padRE matches the trailing blanks of the header lines where Dovecot keeps
// its padding; their amount depends on the write history, so lifecycle
// comparisons ignore it (the README says so too).
var padRE = regexp.MustCompile(`(?m)^((?:X-UID|X-Keywords|X-IMAP|X-IMAPbase):[^\n]*?) +$`)

func maskPadding(b []byte) []byte { return padRE.ReplaceAll(b, []byte("$1")) }

func compareMasked(t *testing.T, got, want string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	gm, wm := maskPadding(maskPseudo(g)), maskPadding(maskPseudo(w))
	if !bytes.Equal(gm, wm) {
		t.Errorf("%s differs (-dovecot +ours):\n%s", filepath.Base(want), cmp.Diff(strings.Split(string(wm), "\n"), strings.Split(string(gm), "\n")))
	} else if !bytes.Equal(maskPseudo(g), maskPseudo(w)) {
		t.Logf("%s: equal except for padding amounts", filepath.Base(want))
	}
}

// TestLifecycle replays lifecycle/: each step starts from the file real
// Dovecot left after the previous step, does what the transcript did, and
// compares the file with Dovecot's (padding amounts masked).
func TestLifecycle(t *testing.T) {
	dir := filepath.Join("testdata", "lifecycle")
	ctx := context.Background()
	tmp := t.TempDir()
	inbox := filepath.Join(tmp, "INBOX")
	index := filepath.Join(tmp, ".imap", "INBOX", "mailsuite.mbox-index")
	const uv = 1795741563
	at := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02 15:04:05", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	opts := func(now time.Time) Options {
		o := testOptions(uv, index)
		o.Now = func() time.Time { return now }
		return o
	}
	open := func(t *testing.T, prev string, now time.Time) *Mailbox {
		t.Helper()
		if prev != "" {
			copyFile(t, filepath.Join(dir, prev), inbox)
		}
		mb, err := Open(ctx, inbox, opts(now))
		if err != nil {
			t.Fatal(err)
		}
		return mb
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	seq := func(mb *Mailbox, n int) Message { return mb.Messages()[n-1] }
	visible := func(t *testing.T, file string, n int) []byte {
		// The message as an IMAP client would APPEND it (CRLF).
		t.Helper()
		p := filepath.Join(t.TempDir(), "src")
		copyFile(t, filepath.Join(dir, file), p)
		mb, err := Open(ctx, p, Options{Location: time.UTC, ReadOnly: true})
		must(t, err)
		defer mb.Close(ctx)
		r, err := mb.Reader(seq(mb, n).UID)
		must(t, err)
		b, err := io.ReadAll(r)
		must(t, err)
		return imapBody(b)
	}

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"01-examine", func(t *testing.T) {
			mb := open(t, "00-delivered.INBOX.mbox", time.Unix(uv, 0))
			// EXAMINE: Dovecot writes the UIDs at once, \Recent kept.
			must(t, mb.Flush(ctx))
			must(t, mb.Close(ctx))
		}},
		{"02-select-logout", func(t *testing.T) {
			mb := open(t, "01-examine.INBOX.mbox", time.Unix(uv, 0))
			if got := mb.TakeRecent(); len(got) != 3 {
				t.Errorf("recent = %v, want 3 messages", got)
			}
			must(t, mb.Close(ctx))
		}},
		{"03-flags-check", func(t *testing.T) {
			mb := open(t, "02-select-logout.INBOX.mbox", time.Unix(uv, 0))
			mb.TakeRecent()
			must(t, mb.SetFlags(seq(mb, 1).UID, Seen|Answered, nil))
			must(t, mb.SetFlags(seq(mb, 2).UID, Flagged, []string{"project"}))
			must(t, mb.SetFlags(seq(mb, 3).UID, Draft, []string{"$Label1"}))
			must(t, mb.Flush(ctx))
			must(t, mb.Close(ctx))
		}},
		{"04-create-copy", func(t *testing.T) {
			mb := open(t, "03-flags-check.INBOX.mbox", time.Unix(uv, 0))
			mb.TakeRecent()
			sent := filepath.Join(tmp, "Sent")
			sb, err := Open(ctx, sent, Options{Create: true, Location: time.UTC, Hostname: "vm",
				Now: func() time.Time { return time.Unix(uv+1, 0) }})
			must(t, err)
			src := seq(mb, 2)
			r, err := mb.Reader(src.UID)
			must(t, err)
			_, err = sb.Append(ctx, r, AppendOptions{Flags: src.Flags, Keywords: src.Keywords, Date: src.InternalDate, Sender: src.Sender})
			must(t, err)
			must(t, sb.Close(ctx))
			must(t, mb.Close(ctx))
			compareMasked(t, sent, filepath.Join(dir, "04-create-copy.Sent.mbox"))
		}},
		{"05-append", func(t *testing.T) {
			now := at("2026-11-27 01:06:04")
			mb := open(t, "04-create-copy.INBOX.mbox", now)
			date := time.Date(2026, 1, 1, 12, 34, 56, 0, time.FixedZone("", 2*3600))
			uid, err := mb.Append(ctx, bytes.NewReader(visible(t, "05-append.INBOX.mbox", 4)),
				AppendOptions{Flags: Seen, Keywords: []string{"$Label2"}, Date: date, Sender: "mboxtest3@vm"})
			must(t, err)
			if uid != 4 {
				t.Errorf("APPENDUID %d, want 4", uid)
			}
			uid, err = mb.Append(ctx, bytes.NewReader(visible(t, "05-append.INBOX.mbox", 5)), AppendOptions{Sender: "mboxtest3@vm"})
			must(t, err)
			if uid != 5 {
				t.Errorf("APPENDUID %d, want 5", uid)
			}
			must(t, mb.Close(ctx))
			// SELECT, FETCH 5 BODY[TEXT] (sets \Seen), LOGOUT.
			mb = open(t, "", now)
			if got := mb.TakeRecent(); len(got) != 2 {
				t.Errorf("recent = %v, want the 2 appended", got)
			}
			m := seq(mb, 5)
			must(t, mb.SetFlags(m.UID, m.Flags|Seen, m.Keywords))
			must(t, mb.Close(ctx))
		}},
		{"06-external-delivery", func(t *testing.T) {
			mb := open(t, "05-append.INBOX.mbox", time.Unix(uv, 0))
			mb.TakeRecent()
			// procmail delivers while the session is open (same inode).
			data, err := os.ReadFile(filepath.Join(dir, "06a-after-NOOP.INBOX.mbox"))
			must(t, err)
			f, err := os.OpenFile(inbox, os.O_WRONLY, 0)
			must(t, err)
			_, err = f.Write(data)
			must(t, err)
			must(t, f.Close())
			ch, err := mb.Sync(ctx)
			must(t, err)
			if diff := cmp.Diff(Changes{New: []uint32{6}}, ch); diff != "" {
				t.Errorf("NOOP changes (-want +got):\n%s", diff)
			}
			mb.TakeRecent()
			must(t, mb.Flush(ctx))
			must(t, mb.Close(ctx))
		}},
		{"07-deleted-expunge", func(t *testing.T) {
			mb := open(t, "06-external-delivery.INBOX.mbox", time.Unix(uv, 0))
			mb.TakeRecent()
			for _, n := range []int{1, 3} {
				m := seq(mb, n)
				must(t, mb.SetFlags(m.UID, m.Flags|Deleted, m.Keywords))
			}
			must(t, mb.Flush(ctx))
			uids, err := mb.Expunge(ctx)
			must(t, err)
			if diff := cmp.Diff([]uint32{1, 3}, uids); diff != "" {
				t.Errorf("expunged (-want +got):\n%s", diff)
			}
			must(t, mb.Close(ctx))
		}},
		{"08-pop3", func(t *testing.T) {
			mb := open(t, "07-deleted-expunge.INBOX.mbox", time.Unix(uv, 0))
			var uidl []string
			for _, m := range mb.Messages() {
				uidl = append(uidl, POP3UIDL(m.UID, mb.UIDValidity()))
			}
			// The UIDL answer in 08-pop3.transcript.txt.
			if want := []string{"000000026b08d77b", "000000046b08d77b", "000000056b08d77b", "000000066b08d77b"}; !cmp.Equal(want, uidl) {
				t.Errorf("UIDL %v, want %v", uidl, want)
			}
			m4, m2 := seq(mb, 4), seq(mb, 2)
			must(t, mb.SetFlags(m4.UID, m4.Flags|Seen, m4.Keywords))
			must(t, mb.SetFlags(m2.UID, m2.Flags|Deleted, m2.Keywords))
			_, err := mb.Expunge(ctx)
			must(t, err)
			must(t, mb.Close(ctx))
		}},
		{"09-expunge-all", func(t *testing.T) {
			mb := open(t, "08-pop3.INBOX.mbox", at("2026-11-27 01:06:06"))
			mb.TakeRecent()
			for _, m := range mb.Messages() {
				must(t, mb.SetFlags(m.UID, m.Flags|Deleted, m.Keywords))
			}
			_, err := mb.Expunge(ctx)
			must(t, err)
			if mb.Len() != 0 || mb.UIDNext() != 7 || mb.UIDValidity() != uv {
				t.Errorf("after expunge: %d messages, UIDNEXT %d, UIDVALIDITY %d; want 0, 7, %d", mb.Len(), mb.UIDNext(), mb.UIDValidity(), uv)
			}
			must(t, mb.Close(ctx))
		}},
		{"10-delivery-after-pseudo", func(t *testing.T) {
			// The two procmail deliveries: Dovecot's step-10 messages
			// without the headers Dovecot added.
			want, err := os.ReadFile(filepath.Join(dir, "10-delivery-after-pseudo.INBOX.mbox"))
			must(t, err)
			pseudo, err := os.ReadFile(filepath.Join(dir, "09-expunge-all.INBOX.mbox"))
			must(t, err)
			i := bytes.Index(want, []byte("\nFrom ")) + 1
			delivered := regexp.MustCompile(`(?m)^(X-UID|Status|X-Status):.*\n`).ReplaceAll(want[i:], nil)
			must(t, os.WriteFile(inbox, append(pseudo, delivered...), 0o600))
			mb := open(t, "", time.Unix(uv, 0))
			if got := mb.TakeRecent(); !cmp.Equal(got, []uint32{7, 8}) {
				t.Errorf("recent %v, want [7 8]", got)
			}
			m := seq(mb, 2)
			must(t, mb.SetFlags(m.UID, m.Flags|Seen|Flagged, m.Keywords))
			must(t, mb.Close(ctx))
		}},
		{"11-index-removed", func(t *testing.T) {
			must(t, os.RemoveAll(filepath.Join(tmp, ".imap")))
			mb := open(t, "10-delivery-after-pseudo.INBOX.mbox", time.Unix(1, 0))
			var got []string
			for _, m := range mb.Messages() {
				got = append(got, flagString(m))
			}
			if mb.UIDValidity() != uv || !cmp.Equal(got, []string{"", `\Flagged \Seen`}) {
				t.Errorf("UIDVALIDITY %d flags %q", mb.UIDValidity(), got)
			}
			mb.TakeRecent()
			must(t, mb.Close(ctx))
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.run(t)
			compareMasked(t, inbox, filepath.Join(dir, st.name+".INBOX.mbox"))
		})
	}
}
