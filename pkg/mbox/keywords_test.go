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

// TestKeywordsBeforeBase: after an expunge the new first message keeps its
// X-Keywords above the X-IMAPbase added below it (lifecycle/07). Opens and
// closes that change nothing must leave such a file alone, also when they
// parse it without a matching index (a stale index, a delivery that opens
// without one), as real Dovecot does with its index.
func TestKeywordsBeforeBase(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join("testdata", "lifecycle", "05-append.INBOX.mbox")
	for _, tc := range []struct {
		name string
		// before runs between the expunge and the checked open.
		before func(t *testing.T, path string)
		op     func(*Mailbox) error
	}{
		{"flush", nil, func(mb *Mailbox) error { return mb.Flush(ctx) }},
		{"select-close", nil, func(mb *Mailbox) error { mb.TakeRecent(); return nil }},
		{"stale-index", func(t *testing.T, path string) {
			must(t, os.Chtimes(path, time.Now(), time.Unix(1700000000, 0)))
		}, func(mb *Mailbox) error { mb.TakeRecent(); return mb.Flush(ctx) }},
		{"no-index", func(t *testing.T, path string) {
			must(t, os.RemoveAll(filepath.Join(filepath.Dir(path), ".imap")))
		}, func(mb *Mailbox) error { mb.TakeRecent(); return mb.Flush(ctx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "inbox")
			copyFile(t, src, path)
			opts := testOptions(1795741563, filepath.Join(dir, ".imap", "INBOX", indexFile))
			mb, err := Open(ctx, path, opts)
			must(t, err)
			mb.TakeRecent()
			must(t, mb.SetFlags(1, Deleted, nil))
			_, err = mb.Expunge(ctx)
			must(t, err)
			must(t, mb.Close(ctx))
			if tc.before != nil {
				tc.before(t, path)
			}
			want, err := os.ReadFile(path)
			must(t, err)
			if !cmp.Equal(keywordsAboveBase(want), []string{"project"}) {
				t.Fatalf("expunge did not leave X-Keywords above X-IMAPbase:\n%s", want)
			}
			mb, err = Open(ctx, path, opts)
			must(t, err)
			if got := mb.Keywords(); !cmp.Equal(got, []string{"project", "$Label1", "$Label2"}) {
				t.Errorf("keywords %q", got)
			}
			if m, ok := mb.Message(2); !ok || !cmp.Equal(m.Keywords, []string{"project"}) {
				t.Errorf("uid 2: %+v", m)
			}
			must(t, tc.op(mb))
			must(t, mb.Close(ctx))
			got, err := os.ReadFile(path)
			must(t, err)
			if !bytes.Equal(got, want) {
				t.Errorf("file changed (-want +got):\n%s", cmp.Diff(string(want), string(got)))
			}
		})
	}
}

// TestDovecotKeywordsBeforeBase: real Dovecot expunges the first message
// of lifecycle/05, which leaves X-Keywords above X-IMAPbase in the new
// first message; with its index it then reads that file, keeping the
// keyword and writing nothing. We, opening Dovecot's file without an index
// of ours (a mailbox taken over from Dovecot), must do the same. (Dovecot
// with its index removed drops such a line instead and loses the keyword;
// we follow the normal case, see keywordsAboveBase.)
func TestDovecotKeywordsBeforeBase(t *testing.T) {
	d := newDovecot(t)
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("testdata", "lifecycle", "05-append.INBOX.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	p := d.put(t, "box", data)
	d.session(t, "SELECT box", "STORE 1 +FLAGS (\\Deleted)", "EXPUNGE")
	expunged, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(keywordsAboveBase(expunged)) == 0 {
		t.Fatalf("Dovecot's expunge did not leave X-Keywords above X-IMAPbase:\n%s", expunged)
	}
	out := d.session(t, "SELECT box", "FETCH 1:* (UID FLAGS)", "CHECK")
	_, dv := parseFetch(t, out)
	dvFile, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dvFile, expunged) {
		t.Errorf("Dovecot with its index rewrote the file (-before +after):\n%s", cmp.Diff(string(expunged), string(dvFile)))
	}

	ours := filepath.Join(t.TempDir(), "box")
	if err := os.WriteFile(ours, expunged, 0o600); err != nil {
		t.Fatal(err)
	}
	mb, err := Open(ctx, ours, Options{Location: time.UTC, Hostname: "vm"})
	if err != nil {
		t.Fatal(err)
	}
	mb.TakeRecent()
	var got []dvFetch
	for _, m := range mb.Messages() {
		got = append(got, dvFetch{Seq: int(m.Seq), UID: m.UID, Flags: flagString(m)})
	}
	must(t, mb.Flush(ctx))
	must(t, mb.Close(ctx))
	ourFile, err := os.ReadFile(ours)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(normFetches(dv, false, false), normFetches(got, false, false)); diff != "" {
		t.Errorf("FETCH (-dovecot +ours):\n%s", diff)
	}
	if diff := cmp.Diff(string(expunged), string(ourFile)); diff != "" {
		t.Errorf("our SELECT/CHECK/LOGOUT changed the file (-before +after):\n%s", diff)
	}
}

// keywordsAboveBase returns the keywords of an X-Keywords line that comes
// before X-IMAPbase in the first message's header.
func keywordsAboveBase(data []byte) []string {
	hdr := data
	if i := bytes.Index(hdr, []byte("\n\n")); i >= 0 {
		hdr = hdr[:i+1]
	}
	var kw []string
	for _, line := range bytes.Split(hdr, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("X-Keywords:")); ok {
			kw = splitWords(v)
		}
		if bytes.HasPrefix(line, []byte("X-IMAPbase:")) {
			return kw
		}
	}
	return nil
}
