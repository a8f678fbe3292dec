// SPDX-License-Identifier: MIT

package mbox

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// twoHandles makes an mbox of n appended messages (UIDs 1..n) and opens it
// twice, as a POP3 and an IMAP session of one dovecotd (or two processes)
// do: each handle has its own descriptor, lock and view, and both share
// the index.
func twoHandles(t *testing.T, n int) (path string, opts Options, a, b *Mailbox) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	path = filepath.Join(dir, "inbox")
	opts = Options{Location: time.UTC, Hostname: "vm", IndexPath: filepath.Join(dir, ".imap", "INBOX", indexFile)}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := Open(ctx, path, opts)
	must(t, err)
	for i := 1; i <= n; i++ {
		msg := fmt.Sprintf("From: a@example.org\nSubject: m%d\nMessage-ID: <m%d@example.org>\n\nbody %d\n", i, i, i)
		if _, err := w.Append(ctx, strings.NewReader(msg), AppendOptions{Sender: "a@example.org"}); err != nil {
			t.Fatal(err)
		}
	}
	must(t, w.Close(ctx))
	a, err = Open(ctx, path, opts)
	must(t, err)
	b, err = Open(ctx, path, opts)
	must(t, err)
	t.Cleanup(func() {
		a.Close(ctx)
		b.Close(ctx)
	})
	return path, opts, a, b
}

type fileMsg struct {
	UID      uint32
	Subject  string
	Flags    Flag
	Keywords []string
}

// fileState is what a fresh parse of the file (no index) shows.
func fileState(t *testing.T, path string) []fileMsg {
	t.Helper()
	ctx := context.Background()
	mb, err := Open(ctx, path, Options{ReadOnly: true, Location: time.UTC})
	must(t, err)
	defer mb.Close(ctx)
	var out []fileMsg
	for _, m := range mb.Messages() {
		r, err := mb.Reader(m.UID)
		must(t, err)
		b, err := io.ReadAll(r)
		must(t, err)
		subj := ""
		for _, l := range strings.Split(string(b), "\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				subj = s
				break
			}
		}
		out = append(out, fileMsg{UID: m.UID, Subject: subj, Flags: m.Flags, Keywords: m.Keywords})
	}
	return out
}

// TestPendingChangesSurviveOtherWriters: a change made through one handle
// and not written yet must not be dropped because another handle wrote
// the same message's flags meanwhile. This was issue 7's duplicate POP3
// downloads: the POP3 session's DELE marks (\Deleted, pending until its
// expunge) were dropped when the write lock's sync found that an IMAP
// session had written \Seen on the same messages, so the expunge removed
// nothing, QUIT still answered "messages deleted", and the next POP3
// session downloaded the messages again.
func TestPendingChangesSurviveOtherWriters(t *testing.T) {
	ctx := context.Background()

	t.Run("expunge after another handle wrote flags", func(t *testing.T) {
		path, _, pop, imap := twoHandles(t, 3)
		must(t, pop.SetFlags(1, Deleted, nil))
		must(t, pop.SetFlags(2, Deleted, nil))
		must(t, imap.SetFlags(1, Seen, nil))
		must(t, imap.SetFlags(2, Seen|Flagged, nil))
		must(t, imap.Flush(ctx))
		gone, err := pop.Expunge(ctx)
		must(t, err)
		if diff := cmp.Diff([]uint32{1, 2}, gone); diff != "" {
			t.Errorf("expunged UIDs (-want +got):\n%s", diff)
		}
		want := []fileMsg{{UID: 3, Subject: "m3"}}
		if diff := cmp.Diff(want, fileState(t, path)); diff != "" {
			t.Errorf("file after the expunge (-want +got):\n%s", diff)
		}
	})

	t.Run("both handles' flag changes are kept", func(t *testing.T) {
		path, _, a, b := twoHandles(t, 2)
		must(t, a.SetFlags(1, Seen, []string{"$label1", "gone"}))
		must(t, a.Flush(ctx))
		must(t, b.SetFlags(1, Seen|Flagged, []string{"$label1", "gone", "added"}))
		must(t, b.Flush(ctx))
		// a: removes "gone" and adds \Answered, not having seen b's write.
		must(t, a.SetFlags(1, Seen|Answered, []string{"$label1"}))
		must(t, a.Flush(ctx))
		got := fileState(t, path)
		if got[0].Flags != Seen|Answered|Flagged {
			t.Errorf("flags %b, want \\Seen \\Answered \\Flagged", got[0].Flags)
		}
		kw := slices.Sorted(slices.Values(got[0].Keywords))
		if diff := cmp.Diff([]string{"$label1", "added"}, kw); diff != "" {
			t.Errorf("keywords (-want +got):\n%s", diff)
		}
		// a's view agrees with the file after its own write.
		m, _ := a.Message(1)
		if m.Flags != got[0].Flags {
			t.Errorf("a's view: flags %b, file %b", m.Flags, got[0].Flags)
		}
	})

	t.Run("removing a flag another handle also set", func(t *testing.T) {
		path, _, a, b := twoHandles(t, 1)
		must(t, a.SetFlags(1, Seen|Flagged, nil))
		must(t, a.Flush(ctx))
		if _, err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		must(t, b.SetFlags(1, Seen, nil)) // b clears \Flagged
		must(t, a.SetFlags(1, Seen|Flagged|Draft, nil))
		must(t, a.Flush(ctx))
		must(t, b.Flush(ctx))
		if got := fileState(t, path)[0].Flags; got != Seen|Draft {
			t.Errorf("flags %b, want \\Seen \\Draft", got)
		}
	})

	t.Run("no resurrection from a stale view", func(t *testing.T) {
		path, _, pop, imap := twoHandles(t, 3)
		must(t, pop.SetFlags(2, Deleted, nil))
		gone, err := pop.Expunge(ctx)
		must(t, err)
		if !slices.Equal(gone, []uint32{2}) {
			t.Fatalf("expunged %v, want [2]", gone)
		}
		// imap still lists UID 2 and changes it and its neighbours.
		for uid := uint32(1); uid <= 3; uid++ {
			must(t, imap.SetFlags(uid, Seen, []string{"long-keyword-" + strings.Repeat("x", 100)}))
		}
		must(t, imap.Flush(ctx))
		if _, ok := imap.Message(2); ok {
			t.Errorf("UID 2 still in the writer's view after its write")
		}
		kw := []string{"long-keyword-" + strings.Repeat("x", 100)}
		want := []fileMsg{{UID: 1, Subject: "m1", Flags: Seen, Keywords: kw}, {UID: 3, Subject: "m3", Flags: Seen, Keywords: kw}}
		if diff := cmp.Diff(want, fileState(t, path)); diff != "" {
			t.Errorf("file (-want +got):\n%s", diff)
		}
		// And the other way round: imap expunges what pop then flags.
		must(t, imap.SetFlags(3, Seen|Deleted, kw))
		_, err = imap.Expunge(ctx)
		must(t, err)
		must(t, pop.SetFlags(3, Flagged, nil))
		must(t, pop.Close(ctx))
		want = want[:1]
		if diff := cmp.Diff(want, fileState(t, path)); diff != "" {
			t.Errorf("file (-want +got):\n%s", diff)
		}
	})
}

// TestWriteReportsOthersChanges: changes of other writers that a write of
// ours takes in first (the write lock's sync) are reported by the next
// Sync, so that a server that writes (a session's flag changes written at
// logout, an APPEND, an EXPUNGE) still tells its sessions about them. An
// IMAP server kept a mailbox's message list and its sessions' UID list
// apart this way: sessions never saw messages delivered just before.
func TestWriteReportsOthersChanges(t *testing.T) {
	ctx := context.Background()
	_, _, a, b := twoHandles(t, 3)
	must(t, b.SetFlags(1, Deleted, nil))
	must(t, b.SetFlags(2, Flagged, nil))
	if _, err := b.Expunge(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, strings.NewReader("Subject: new\n\nbody\n"), AppendOptions{Sender: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	must(t, a.SetFlags(3, Seen, nil))
	must(t, a.Flush(ctx)) // takes b's changes in before writing
	ch, err := a.Sync(ctx)
	must(t, err)
	want := Changes{Expunged: []uint32{1}, New: []uint32{4}, Flags: []uint32{2}}
	if diff := cmp.Diff(want, ch); diff != "" {
		t.Errorf("Sync after the flush (-want +got):\n%s", diff)
	}
	// Reported once.
	ch, err = a.Sync(ctx)
	must(t, err)
	if diff := cmp.Diff(Changes{}, ch); diff != "" {
		t.Errorf("second Sync (-want +got):\n%s", diff)
	}
}
