// SPDX-License-Identifier: MIT

package pop3d

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mailsuite/pkg/mbox"
)

// FuzzPOP3 sends arbitrary client streams to a live server whose INBOX is
// reset before each one. The server must answer only in CRLF lines, end
// the session once the client has closed its side, and leave an mbox
// file that still parses with no more messages than before.
func FuzzPOP3(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "mbox", "lifecycle-07-deleted-expunge.mbox"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("USER b\r\nPASS pw\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 1\r\nDELE 3\r\nQUIT\r\n"))
	f.Add([]byte("CAPA\r\nAUTH PLAIN AGIAcHc=\r\nRETR 4\r\nDELE 1\r\nRSET\r\nDELE 2\r\nQUIT\r\n"))
	f.Add([]byte("AUTH LOGIN\r\nYg==\r\ncHc=\r\nLIST 9\r\nTOP 1 x\r\n\r\n"))
	ts := startServer(f, nil, func(c *Config) {
		c.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.LoginTimeout, c.IdleTimeout = 5*time.Second, 5*time.Second
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		if err := os.WriteFile(ts.inbox, data, 0o600); err != nil {
			t.Fatal(err)
		}
		conn, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		done := make(chan []byte)
		go func() {
			out, _ := io.ReadAll(conn)
			done <- out
		}()
		conn.Write(in)
		conn.(*net.TCPConn).CloseWrite()
		out := <-done
		if !bytes.HasPrefix(out, []byte("+OK Dovecot (Debian) ready.\r\n")) {
			t.Fatalf("no greeting: %q", out)
		}
		// Every LF the server sends ends a CRLF, message text included.
		if bytes.Count(out, []byte("\n")) != bytes.Count(out, []byte("\r\n")) || !bytes.HasSuffix(out, []byte("\r\n")) {
			t.Fatalf("bare LF or unterminated line in %q", out)
		}
		mb, err := mbox.Open(context.Background(), ts.inbox, mbox.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("mailbox broken after %q: %v", in, err)
		}
		if n := mb.Len(); n > 4 {
			t.Errorf("%d messages, had 4", n)
		}
		mb.Close(context.Background())
	})
}
