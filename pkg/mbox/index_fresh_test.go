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

// pureIndexLoad reports whether the index at index describes the file at
// path exactly (an Open would load it without parsing anything).
func pureIndexLoad(t testing.TB, path, index string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := statFile(f)
	if err != nil {
		t.Fatal(err)
	}
	mb := &Mailbox{path: path, f: f, opts: Options{IndexPath: index}, kwIndex: map[string]int{}}
	ok, grown := mb.loadIndexGrown(st, true)
	return ok && !grown
}

// TestIndexFreshAfterWrite: after a session rewrote headers (in place or
// by moving the tail), expunged, or read a file that had grown, the next
// open of the unchanged file is a pure index load, and the index says what
// a parse says.
func TestIndexFreshAfterWrite(t *testing.T) {
	ctx := context.Background()
	deliver := func(t *testing.T, path string) {
		d, err := Open(ctx, path, Options{Location: time.UTC, Hostname: "vm"})
		must(t, err)
		_, err = d.Append(ctx, bytes.NewReader([]byte("Subject: new\n\nbody\n")), AppendOptions{Sender: "a@example.org"})
		must(t, err)
		must(t, d.Close(ctx))
	}
	selectClose := func(t *testing.T, path string, opts Options) {
		mb, err := Open(ctx, path, opts)
		must(t, err)
		mb.TakeRecent()
		must(t, mb.Close(ctx))
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, path string, opts Options)
	}{
		{"select-close", selectClose},
		{"select-close-twice", func(t *testing.T, path string, opts Options) {
			selectClose(t, path, opts)
			selectClose(t, path, opts)
		}},
		{"flags-outgrow-header", func(t *testing.T, path string, opts Options) {
			selectClose(t, path, opts)
			mb, err := Open(ctx, path, opts)
			must(t, err)
			must(t, mb.SetFlags(2, Seen|Flagged|Answered, []string{"a-rather-long-keyword", "and-another-one", "and-a-third-keyword-to-outgrow-padding"}))
			must(t, mb.Close(ctx))
		}},
		{"expunge", func(t *testing.T, path string, opts Options) {
			mb, err := Open(ctx, path, opts)
			must(t, err)
			mb.TakeRecent()
			must(t, mb.SetFlags(3, Deleted, nil))
			_, err = mb.Expunge(ctx)
			must(t, err)
			must(t, mb.Close(ctx))
		}},
		{"readonly-after-delivery", func(t *testing.T, path string, opts Options) {
			selectClose(t, path, opts)
			deliver(t, path)
			ro := opts
			ro.ReadOnly = true
			mb, err := Open(ctx, path, ro)
			must(t, err)
			must(t, mb.Close(ctx))
		}},
		{"sync-delivery-close", func(t *testing.T, path string, opts Options) {
			selectClose(t, path, opts)
			mb, err := Open(ctx, path, opts)
			must(t, err)
			deliver(t, path)
			_, err = mb.Sync(ctx)
			must(t, err)
			must(t, mb.Close(ctx))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "inbox")
			index := filepath.Join(dir, ".imap", "INBOX", indexFile)
			if err := os.WriteFile(path, generateMbox(30, 4), 0o600); err != nil {
				t.Fatal(err)
			}
			opts := Options{Location: time.UTC, Hostname: "vm", IndexPath: index, Now: func() time.Time { return time.Unix(1700000000, 0) }}
			tc.run(t, path, opts)
			if !pureIndexLoad(t, path, index) {
				t.Errorf("the index does not describe the file: the next open parses")
			}
			mb, err := Open(ctx, path, opts)
			must(t, err)
			defer mb.Close(ctx)
			ref, err := Open(ctx, path, Options{Location: time.UTC, ReadOnly: true})
			must(t, err)
			defer ref.Close(ctx)
			strip := func(ms []Message) []Message {
				for i := range ms {
					ms[i].Recent = false
				}
				return ms
			}
			if diff := cmp.Diff(strip(ref.Messages()), strip(mb.Messages())); diff != "" {
				t.Errorf("index view differs from parse (-parse +index):\n%s", diff)
			}
		})
	}
}
