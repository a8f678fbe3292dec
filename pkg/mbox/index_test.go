// SPDX-License-Identifier: MIT

package mbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestIndex: an unchanged mailbox reopens from the index with the same view;
// one that only grew (a delivery) reopens from the index plus a parse of the
// new tail; one changed in place is parsed again. Each view must equal a
// full parse of the same file.
func TestIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "inbox")
	index := filepath.Join(dir, ".imap", "INBOX", indexFile)
	if err := os.WriteFile(path, generateMbox(40, 9), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := Options{Location: time.UTC, Hostname: "vm", IndexPath: index, Now: func() time.Time { return time.Unix(1700000000, 0) }}
	full := func() []Message {
		t.Helper()
		p := filepath.Join(t.TempDir(), "copy")
		copyFile(t, path, p)
		mb, err := Open(ctx, p, Options{Location: time.UTC, ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer mb.Close(ctx)
		return mb.Messages()
	}
	view := func(mb *Mailbox) []Message {
		ms := mb.Messages()
		for i := range ms {
			ms[i].Recent = false
		}
		return ms
	}
	clean := func(ms []Message) []Message {
		for i := range ms {
			ms[i].Recent = false
		}
		return ms
	}

	mb, err := Open(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	mb.TakeRecent()
	must(t, mb.SetFlags(3, Flagged, []string{"todo"}))
	must(t, mb.Close(ctx)) // writes X-UIDs, flags, and the index

	mb, err = Open(ctx, path, opts)
	must(t, err)
	if mb.loaded != "index" || mb.indexStale {
		t.Errorf("unchanged file: index not used as is (%s)", mb.loaded)
	}
	if diff := cmp.Diff(clean(full()), view(mb)); diff != "" {
		t.Errorf("index view differs from a parse (-parse +index):\n%s", diff)
	}
	mb.f.Close()

	// A delivery by another program (plain append, no X-UID).
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	f.Write([]byte("From new@example.org  Fri Nov 27 10:00:00 2026\nSubject: new\n\nnew body\n\n"))
	f.Close()
	mb, err = Open(ctx, path, opts)
	must(t, err)
	if mb.loaded != "index+tail" {
		t.Errorf("grown file: tail not parsed on top of the index (%s)", mb.loaded)
	}
	if !pureIndexLoad(t, path, index) {
		t.Errorf("grown file: index not brought up to date by the open")
	}
	if mb.Len() != 41 {
		t.Fatalf("%d messages, want 41", mb.Len())
	}
	if got := mb.Messages()[40]; got.UID != 41 || !got.Recent {
		t.Errorf("delivered message: %+v", got)
	}
	if diff := cmp.Diff(clean(full()), view(mb)); diff != "" {
		t.Errorf("index+tail view differs from a parse (-parse +ours):\n%s", diff)
	}
	must(t, mb.Close(ctx))

	// Changed in place (same size): Status R -> flags change, reparse.
	b, _ := os.ReadFile(path)
	must(t, os.WriteFile(path, b, 0o600))
	time.Sleep(10 * time.Millisecond)
	mb, err = Open(ctx, path, opts)
	must(t, err)
	defer mb.Close(ctx)
	if diff := cmp.Diff(clean(full()), view(mb)); diff != "" {
		t.Errorf("after in-place change (-parse +ours):\n%s", diff)
	}
}

// TestExpungeWritesPendingFlags: flag changes of messages before and after
// the expunged ones reach the file with the expunge itself.
func TestExpungeWritesPendingFlags(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "inbox")
	must(t, os.WriteFile(path, generateMbox(10, 4), 0o600))
	mb, err := Open(ctx, path, Options{Location: time.UTC})
	must(t, err)
	mb.TakeRecent()
	must(t, mb.SetFlags(1, Flagged, []string{"first"}))
	must(t, mb.SetFlags(5, Deleted, nil))
	must(t, mb.SetFlags(9, Answered, nil))
	uids, err := mb.Expunge(ctx)
	must(t, err)
	if !cmp.Equal(uids, []uint32{5}) {
		t.Fatalf("expunged %v", uids)
	}
	// Another reader, before our Close.
	other, err := Open(ctx, path, Options{Location: time.UTC, ReadOnly: true})
	must(t, err)
	defer other.Close(ctx)
	got := map[uint32]string{}
	for _, m := range other.Messages() {
		got[m.UID] = flagString(m)
	}
	want := map[uint32]string{1: `\Flagged first`, 2: "", 3: "", 4: "", 6: "", 7: "", 8: "", 9: `\Answered`, 10: ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flags seen by another reader (-want +got):\n%s", diff)
	}
	must(t, mb.Close(ctx))
}
