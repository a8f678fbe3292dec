// SPDX-License-Identifier: MIT

package smtpd

import (
	"strings"
	"testing"
)

// BenchmarkTransaction is one whole SMTP transaction over loopback on an
// open connection (MAIL, RCPT, DATA with a 4 KiB message, fsynced into
// the DirSpool), the per-message cost of the server.
func BenchmarkTransaction(b *testing.B) {
	e := newEnv(b, envOpts{})
	c := e.dial(b, trustedIP)
	c.reply()
	c.cmd("EHLO bench")
	body := "Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 62)+"\r\n", 64) + "."
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for range b.N {
		c.cmd("MAIL FROM:<a@hamap.local>")
		c.cmd("RCPT TO:<b@hamap.local>")
		c.cmd("DATA")
		if r := c.cmd(body); !strings.HasPrefix(r, "250 2.0.0 ") {
			b.Fatalf("end of data: %q", r)
		}
	}
}
