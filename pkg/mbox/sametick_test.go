// SPDX-License-Identifier: MIT

package mbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChangeWithinOneTick: another writer expunges a message and
// appends one of the same length, and the file's mtime comes out as
// before (the kernel stamps mtime from a coarse clock: both inside one
// tick; here set back with Chtimes). Size, mtime, inode and device are
// then all unchanged, yet the messages moved: a mailbox that wrote at its
// old offsets would cut messages apart. A write must notice the change.
func TestChangeWithinOneTick(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "inbox")
	var b strings.Builder
	for i := 0; i < 4; i++ {
		fmt.Fprintf(&b, "From d@x  Fri Nov 27 02:00:00 2026\nSubject: msg-%d\n\nbody %d %s\n\n", i, i, strings.Repeat("z", 300))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size()

	// The other writer: expunge the first message, append one as long.
	o, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	first := o.Messages()[0]
	if err := o.SetFlags(first.UID, first.Flags|Deleted, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Expunge(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Append one message making the file exactly as long as before
	// (its length found by trying: the appended header is ours).
	expunged, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 10
	for try := 0; try < 4; try++ {
		if err := os.WriteFile(path, expunged, 0o600); err != nil {
			t.Fatal(err)
		}
		o, err = Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Append(ctx, strings.NewReader("Subject: late\n\n"+strings.Repeat("x", n)+"\n"), AppendOptions{Sender: "d@x"}); err != nil {
			t.Fatal(err)
		}
		if err := o.Close(ctx); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(path)
		if st.Size() == size {
			break
		}
		n += int(size - st.Size())
		if n < 1 {
			t.Skipf("the appended header alone is longer than the expunged message")
		}
	}
	if st, _ := os.Stat(path); st.Size() != size {
		t.Skipf("could not make the file %d bytes again (it is %d)", size, st.Size())
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}

	// a still has the old offsets; it writes a flag on its last message.
	msgs := a.Messages()
	last := msgs[len(msgs)-1]
	if err := a.SetFlags(last.UID, last.Flags|Flagged, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("file does not parse after the write: %v", err)
	}
	defer check.Close(ctx)
	var subjects []string
	for _, m := range check.Messages() {
		h, err := check.AppendHeader(nil, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		_, s, _ := strings.Cut(string(h), "Subject: ")
		s, _, _ = strings.Cut(s, "\n")
		subjects = append(subjects, s)
	}
	if got, want := strings.Join(subjects, ","), "msg-1,msg-2,msg-3,late"; got != want {
		raw, _ := os.ReadFile(path)
		t.Errorf("messages after the write: %s, want %s\n%s", got, want, raw)
	}
}
