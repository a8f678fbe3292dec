// SPDX-License-Identifier: MIT

package mbox

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestAppendSizeMatchesParse checks that the RFC822.SIZE Append reports
// for a message is the size a fresh parse of the file gives it: the blank
// line between header and body counts (as CRLF), as it does when the
// file is read back. IMAP's FETCH BODY[] sends that many bytes, so a
// short size cut the message's last CRLF.
func TestAppendSizeMatchesParse(t *testing.T) {
	ctx := context.Background()
	msgs := []string{
		"Subject: x\r\n\r\nbody\r\n",
		"Subject: x\r\nFrom: a@b\r\n\r\nline 1\r\nline 2\r\n",
		"Subject: only a header\r\n",
		"Subject: lf only\n\nbody\n",
		"Subject: empty body\r\n\r\n",
	}
	for _, msg := range msgs {
		path := filepath.Join(t.TempDir(), "INBOX")
		mb, err := Open(ctx, path, Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mb.Append(ctx, strings.NewReader(msg), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		got := mb.Messages()[0].Size
		if err := mb.Close(ctx); err != nil {
			t.Fatal(err)
		}
		fresh, err := Open(ctx, path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		want := fresh.Messages()[0].Size
		fresh.Close(ctx)
		if got != want {
			t.Errorf("%q: Append reports size %d, a fresh parse %d", msg, got, want)
		}
	}
}
