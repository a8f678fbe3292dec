// SPDX-License-Identifier: MIT

package testutil

import (
	"net"
	"os"
	"sync"
	"testing"
)

// Syslog listens on a datagram socket at path (bind-mounted over a real
// program's /dev/log, so that its syslog(3) lines come to the test) and
// returns a function giving the messages received so far.
func Syslog(t testing.TB, path string) func() []string {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o666)
	t.Cleanup(func() { conn.Close() })
	var mu sync.Mutex
	var lines []string
	go func() {
		buf := make([]byte, 8192)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			lines = append(lines, string(buf[:n]))
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
}
