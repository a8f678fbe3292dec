// SPDX-License-Identifier: MIT

package pop3d

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchMbox writes an mbox of n procmail-style messages of about 13 KB
// (the mean size behind the 6,600 messages/s = 86 MB/s figure).
func benchMbox(tb testing.TB, path string, n int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := strings.Repeat("lorem ipsum dolor sit amet ", 3)[:72]
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "From sender%d@example.org  Fri Nov 27 01:%02d:%02d 2026\n", i, i/60%60, i%60)
		fmt.Fprintf(w, "Return-Path: <sender%d@example.org>\nFrom: Sender %d <sender%d@example.org>\nTo: b@hamap.local\n", i, i, i)
		fmt.Fprintf(w, "Subject: benchmark message %d\nDate: Fri, 27 Nov 2026 01:00:00 +0000\nMessage-ID: <bench-%d@example.org>\n\n", i, i)
		for j := 0; j < 175; j++ {
			fmt.Fprintf(w, "%s\n", line)
		}
		if i%10 == 0 {
			w.WriteString(".a line that starts with a dot\n")
		}
		w.WriteString("\n")
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// benchScript is LIST, UIDL and RETR of every message, then QUIT.
func benchScript(n int) string {
	var b strings.Builder
	b.WriteString("LIST\r\nUIDL\r\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "RETR %d\r\n", i)
	}
	b.WriteString("QUIT\r\n")
	return b.String()
}

// BenchmarkRetrieveAll times LIST+UIDL+RETR-all sessions on 1,000 and
// 10,000-message mailboxes, ours (over loopback TCP, with login) and real
// Dovecot's pop3 (preauthenticated on stdio, the same file format), after
// one untimed session each that writes \Seen and builds indexes.
func BenchmarkRetrieveAll(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		script := benchScript(n)
		b.Run(fmt.Sprintf("dovecotd/%d", n), func(b *testing.B) {
			ts := startServer(b, nil, nil)
			benchMbox(b, ts.inbox, n)
			session := func() int64 {
				c, _ := dial(b, ts.addr)
				c.login()
				go io.WriteString(c.conn, script)
				m, err := io.Copy(io.Discard, c.br)
				if err != nil {
					b.Fatal(err)
				}
				return m
			}
			session()
			b.ResetTimer()
			var bytes int64
			for i := 0; i < b.N; i++ {
				bytes += session()
			}
			report(b, n, bytes)
		})
		b.Run(fmt.Sprintf("dovecot/%d", n), func(b *testing.B) {
			real := newRealPOP3(b, "")
			benchMbox(b, real.inbox(), n)
			if os.Geteuid() == 0 {
				os.Chown(real.inbox(), 65534, 65534)
				os.Chown(filepath.Dir(real.inbox()), 65534, 65534)
			}
			session := func() int64 {
				cmd := real.command()
				stdin, _ := cmd.StdinPipe()
				stdout, _ := cmd.StdoutPipe()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				go io.WriteString(stdin, script)
				m, _ := io.Copy(io.Discard, stdout)
				if err := cmd.Wait(); err != nil {
					b.Fatal(err)
				}
				stdin.Close()
				return m
			}
			session()
			b.ResetTimer()
			var bytes int64
			for i := 0; i < b.N; i++ {
				bytes += session()
			}
			report(b, n, bytes)
		})
	}
}

func report(b *testing.B, n int, bytes int64) {
	secs := b.Elapsed().Seconds()
	if secs <= 0 {
		secs = float64(time.Nanosecond) / 1e9
	}
	b.ReportMetric(float64(n*b.N)/secs, "msgs/s")
	b.ReportMetric(float64(bytes)/secs/1e6, "MB/s")
}
