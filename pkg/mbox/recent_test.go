// SPDX-License-Identifier: MIT

package mbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestTakeRecentOnce: one Mailbox hands each \Recent UID out once, also
// for messages that arrive later through Sync.
func TestTakeRecentOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "inbox")
	if err := os.WriteFile(path, generateMbox(3, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	mb, err := Open(ctx, path, Options{Location: time.UTC, Hostname: "vm"})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close(ctx)
	if diff := cmp.Diff([]uint32{1, 2, 3}, mb.TakeRecent()); diff != "" {
		t.Errorf("first TakeRecent (-want +got):\n%s", diff)
	}
	if got := mb.TakeRecent(); len(got) != 0 {
		t.Errorf("second TakeRecent = %v, want none", got)
	}
	other, err := Open(ctx, path, Options{Location: time.UTC, Hostname: "vm"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Append(ctx, bytes.NewReader([]byte("Subject: late\n\nhi\n")), AppendOptions{Sender: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	must(t, other.Close(ctx))
	if _, err := mb.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint32{4}, mb.TakeRecent()); diff != "" {
		t.Errorf("TakeRecent after delivery (-want +got):\n%s", diff)
	}
	if got := mb.TakeRecent(); len(got) != 0 {
		t.Errorf("TakeRecent again = %v, want none", got)
	}
}
