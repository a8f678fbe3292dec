// SPDX-License-Identifier: MIT

// Command smtpload is bench/smtp.sh's and bench/relay.sh's SMTP client:
// it opens -conns connections from -src to -addr and sends -n messages
// of -size bytes in all (MAIL, RCPT, DATA per message, one EHLO per
// connection), then prints one line: "sent N messages in S s (R msg/s)".
// A refusal or a broken connection makes it exit 1.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:25", "server address")
	src := flag.String("src", "127.0.0.20", "local address to connect from")
	conns := flag.Int("conns", 10, "parallel connections")
	n := flag.Int("n", 2000, "messages in all")
	size := flag.Int("size", 4096, "message size in bytes")
	from := flag.String("from", "a@hamap.local", "envelope sender")
	rcpt := flag.String("rcpt", "b@hamap.local", "envelope recipient")
	flag.Parse()

	body := message(*size, *from, *rcpt)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, *conns)
	start := time.Now()
	for c := 0; c < *conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := session(*addr, *src, *from, *rcpt, body, func() (int64, bool) {
				i := next.Add(1)
				return i, i <= int64(*n)
			}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	for err := range errs {
		fmt.Fprintln(os.Stderr, "smtpload:", err)
		os.Exit(1)
	}
	fmt.Printf("sent %d messages in %.3f s (%.1f msg/s)\n", *n, el.Seconds(), float64(*n)/el.Seconds())
}

// message is a header and a body of 76-character lines, size bytes in
// all with CRLF line ends; %d in the Message-ID is the message number.
func message(size int, from, rcpt string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: smtpload\r\nMessage-ID: <smtpload-%%d@bench>\r\n\r\n", from, rcpt)
	line := strings.Repeat("x", 76) + "\r\n"
	for b.Len()+len(line) <= size {
		b.WriteString(line)
	}
	return b.String()
}

func session(addr, src, from, rcpt, body string, take func() (int64, bool)) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 30 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriterSize(c, 64<<10)
	expect := func(code string) error {
		c.SetReadDeadline(time.Now().Add(10 * time.Minute))
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if !strings.HasPrefix(l, code) {
				return fmt.Errorf("want %s, got %q", code, strings.TrimSpace(l))
			}
			if len(l) < 4 || l[3] != '-' {
				return nil
			}
		}
	}
	cmd := func(line, code string) error {
		w.WriteString(line + "\r\n")
		if err := w.Flush(); err != nil {
			return err
		}
		return expect(code)
	}
	if err := expect("220"); err != nil {
		return err
	}
	if err := cmd("EHLO smtpload.bench", "250"); err != nil {
		return err
	}
	for {
		i, ok := take()
		if !ok {
			break
		}
		if err := cmd("MAIL FROM:<"+from+">", "250"); err != nil {
			return err
		}
		if err := cmd("RCPT TO:<"+rcpt+">", "250"); err != nil {
			return err
		}
		if err := cmd("DATA", "354"); err != nil {
			return err
		}
		w.WriteString(strings.Replace(body, "%d", fmt.Sprint(i), 1))
		if err := cmd(".", "250"); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	return cmd("QUIT", "221")
}
