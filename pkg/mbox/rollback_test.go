// SPDX-License-Identifier: MIT

package mbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRollback breaks rewrites and appends half-way and checks the file is
// never left damaged: a failed write is rolled back at once, a crash (no
// rollback in the process) is rolled back by the next Open.
func TestRollback(t *testing.T) {
	ctx := context.Background()
	orig := generateMbox(1000, 3) // large enough that a crash comes after the write buffer flushed
	errBoom := errors.New("disk full")
	tests := []struct {
		name  string
		point string
		err   error
		op    func(mb *Mailbox) error
	}{
		{"expunge fails mid-rewrite", "message", errBoom, expungeSome},
		{"expunge crashes mid-rewrite", "message", errSimulatedCrash, expungeSome},
		{"expunge crashes before truncate", "truncate", errSimulatedCrash, expungeSome},
		{"flush crashes while headers grow", "message", errSimulatedCrash, func(mb *Mailbox) error {
			return mb.Flush(ctx) // every message lacks X-UID: the tail is rewritten
		}},
		{"expunge of everything fails", "write", errBoom, func(mb *Mailbox) error {
			for _, m := range mb.Messages() {
				mb.SetFlags(m.UID, Deleted, nil)
			}
			_, err := mb.Expunge(ctx)
			return err
		}},
		{"append fails after the body", "append", errBoom, func(mb *Mailbox) error {
			_, err := mb.Append(ctx, strings.NewReader("Subject: x\r\n\r\nbody\r\n"), AppendOptions{Sender: "a@b"})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "inbox")
			index := filepath.Join(dir, ".imap", "INBOX", "mailsuite.mbox-index")
			if err := os.WriteFile(path, orig, 0o600); err != nil {
				t.Fatal(err)
			}
			opts := Options{IndexPath: index, Location: time.UTC, Hostname: "vm"}
			mb, err := Open(ctx, path, opts)
			if err != nil {
				t.Fatal(err)
			}
			calls := 0
			testHook = func(p string) error {
				if p == tc.point {
					calls++
					if calls == 600 || p != "message" {
						return tc.err
					}
				}
				return nil
			}
			err = tc.op(mb)
			testHook = nil
			if !errors.Is(err, tc.err) {
				t.Fatalf("operation error = %v, want %v", err, tc.err)
			}
			mb.f.Close() // the process "dies" here
			got, _ := os.ReadFile(path)
			if tc.err != errSimulatedCrash && !bytes.Equal(got, orig) {
				t.Fatalf("file not rolled back after a failed write")
			}
			if tc.err == errSimulatedCrash && bytes.Equal(got, orig) {
				t.Fatalf("simulated crash left the file untouched; the test proves nothing")
			}
			mb, err = Open(ctx, path, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer mb.Close(ctx)
			if got, _ := os.ReadFile(path); !bytes.Equal(got, orig) {
				t.Errorf("file not restored on the next open")
			}
			if mb.Len() != 1000 {
				t.Errorf("%d messages after recovery, want 1000", mb.Len())
			}
			if _, err := os.Stat(index + ".journal"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("journal left behind")
			}
		})
	}
}

func expungeSome(mb *Mailbox) error {
	for i, m := range mb.Messages() {
		if i%7 == 1 {
			mb.SetFlags(m.UID, Deleted, nil)
		}
	}
	_, err := mb.Expunge(context.Background())
	return err
}
