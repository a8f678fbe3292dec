// SPDX-License-Identifier: MIT

package remote

import (
	"io"
	"net"
	"testing"
)

// TestReplyTap: the last complete line read is kept however the bytes
// arrive, and a line still being read does not count.
func TestReplyTap(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	tap := &replyTap{Conn: client}
	go func() {
		for _, chunk := range []string{"250-first\r\n250 sec", "ond\r\n", "250 2.0.0 I'll make sure <x@y> gets this\r\n354 partial"} {
			server.Write([]byte(chunk))
		}
		server.Close()
	}()
	buf := make([]byte, 7)
	wants := map[int]string{}
	for i := 0; ; i++ {
		_, err := tap.Read(buf)
		wants[i] = tap.last()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := tap.last(); got != "250 2.0.0 I'll make sure <x@y> gets this" {
		t.Errorf("last() = %q", got)
	}
	seen := false
	for _, v := range wants {
		seen = seen || v == "250 second"
	}
	if !seen {
		t.Errorf("never saw the first reply's last line: %v", wants)
	}
}
