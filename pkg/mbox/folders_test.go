// SPDX-License-Identifier: MIT

package mbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestFolders replays lifecycle step 04's CREATE/SUBSCRIBE/LIST and checks
// the layout Dovecot made: files, directories, .subscriptions byte for byte,
// UIDVALIDITY handed out per root.
func TestFolders(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	const uv = 1795741563
	f := &Folders{
		Root:  filepath.Join(home, "mail"),
		Inbox: filepath.Join(home, "spool", "user"),
		Opts:  Options{Location: time.UTC, Hostname: "vm", Now: func() time.Time { return time.Unix(uv, 0) }},
	}
	os.MkdirAll(filepath.Dir(f.Inbox), 0o700)
	inbox, err := f.Open(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	inbox.Close(ctx)
	if fi, err := os.Stat(f.Inbox); err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("INBOX not created empty 0600: %v %v", fi, err)
	}
	for _, n := range []string{"Sent", "work/projects"} {
		if err := f.Create(n); err != nil {
			t.Fatal(err)
		}
		if err := f.Subscribe(n, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Create("Sent"); !errors.Is(err, ErrExists) {
		t.Errorf("second CREATE Sent = %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(f.Root, ".subscriptions"))
	want, _ := os.ReadFile(filepath.Join("testdata", "lifecycle", "04-create-copy.subscriptions.txt"))
	if string(got) != string(want) {
		t.Errorf(".subscriptions = %q, Dovecot wrote %q", got, want)
	}
	list, err := f.List()
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	wantList := []MailboxInfo{
		{Name: "INBOX"},
		{Name: "Sent", NoInferiors: true},
		{Name: "work", NoSelect: true, HasChildren: true},
		{Name: "work/projects", NoInferiors: true},
	}
	if diff := cmp.Diff(wantList, list); diff != "" {
		t.Errorf("LIST (-want +got):\n%s", diff)
	}
	// UIDVALIDITY: INBOX got the time; Sent, created in the same second,
	// gets one more (Dovecot: 1795741563 then ...564).
	sent, err := f.Open(ctx, "Sent")
	if err != nil {
		t.Fatal(err)
	}
	if sent.UIDValidity() != uv+1 {
		t.Errorf("Sent UIDVALIDITY %d, want %d", sent.UIDValidity(), uv+1)
	}
	if _, err := sent.Append(ctx, strings.NewReader("Subject: x\r\n\r\ny\r\n"), AppendOptions{Sender: "a@b"}); err != nil {
		t.Fatal(err)
	}
	sent.Close(ctx)
	if b, _ := os.ReadFile(filepath.Join(f.Root, ".imap", "dovecot-uidvalidity")); string(b) != "6b08d77c" {
		t.Errorf("dovecot-uidvalidity = %q", b)
	}
	if _, err := os.Stat(filepath.Join(f.Root, ".imap", "Sent", indexFile)); err != nil {
		t.Errorf("no index for Sent: %v", err)
	}
	if err := f.Delete("work"); !errors.Is(err, ErrHasChildren) {
		t.Errorf("DELETE work = %v, want %v", err, ErrHasChildren)
	}
	if err := f.Rename("Sent", "Archive/2026"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.Root, "Archive", ".imap", "2026", indexFile)); err != nil {
		t.Errorf("control dir not moved with RENAME: %v", err)
	}
	if subs, _ := f.Subscriptions(); !cmp.Equal(subs, []string{"Sent", "work/projects"}) {
		t.Errorf("subscriptions after RENAME = %v (Dovecot leaves them)", subs)
	}
	mb, err := f.Open(ctx, "Archive/2026")
	if err != nil {
		t.Fatal(err)
	}
	if mb.Len() != 1 || mb.UIDValidity() != uv+1 {
		t.Errorf("renamed mailbox: %d messages, UIDVALIDITY %d", mb.Len(), mb.UIDValidity())
	}
	mb.Close(ctx)
	for _, n := range []string{"work/projects", "work", "Archive/2026"} {
		if err := f.Delete(n); err != nil {
			t.Errorf("DELETE %s: %v", n, err)
		}
	}
	if err := f.Subscribe("Sent", false); err != nil {
		t.Fatal(err)
	}
	if subs, _ := f.Subscriptions(); !cmp.Equal(subs, []string{"work/projects"}) {
		t.Errorf("subscriptions = %v", subs)
	}
	if _, err := f.Path("../etc"); err == nil {
		t.Errorf("Path accepted ..")
	}
}
