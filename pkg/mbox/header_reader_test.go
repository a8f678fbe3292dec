// SPDX-License-Identifier: MIT

package mbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAppendHeader: AppendHeader and a HeaderReader give, for every
// message of the tricky mboxes (and of a mailbox larger than the
// reader's window), exactly the header part of what Reader streams: the
// stored header up to its blank line, private headers left out.
func TestAppendHeader(t *testing.T) {
	ctx := context.Background()
	files, err := filepath.Glob("testdata/tricky/*.mbox")
	if err != nil || len(files) == 0 {
		t.Fatalf("no tricky mboxes: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big")
	writeBenchMbox(t, big, 3000)
	files = append(files, big)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			must(t, err)
			tmp := filepath.Join(t.TempDir(), "inbox")
			must(t, os.WriteFile(tmp, data, 0o600))
			mb, err := Open(ctx, tmp, Options{ReadOnly: true, Location: time.UTC})
			if errors.Is(err, ErrNotMbox) {
				t.Skip("not an mbox for Dovecot either")
			}
			must(t, err)
			defer mb.Close(ctx)
			hr := mb.HeaderReader()
			buf := []byte("prefix")
			for _, m := range mb.Messages() {
				r, err := mb.Reader(m.UID)
				must(t, err)
				all, err := io.ReadAll(r)
				must(t, err)
				i, _ := mb.find(m.UID)
				mm := mb.msgs[i]
				hdr, _ := mb.readHeader(mm)
				want := all[:len(visibleHeader(hdr))]
				got, err := mb.AppendHeader(buf, m.UID)
				must(t, err)
				if !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], want) {
					t.Fatalf("uid %d: AppendHeader %q, want %q", m.UID, got, want)
				}
				got, err = hr.AppendHeader(nil, m.UID)
				must(t, err)
				if !bytes.Equal(got, want) {
					t.Fatalf("uid %d: HeaderReader %q, want %q", m.UID, got, want)
				}
			}
			if _, err := mb.AppendHeader(nil, mb.UIDNext()); err == nil {
				t.Errorf("AppendHeader of a missing UID: no error")
			}
		})
	}
}
