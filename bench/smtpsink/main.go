// SPDX-License-Identifier: MIT

// Command smtpsink is bench/relay.sh's far end: an SMTP server on -addr
// that accepts every message and throws it away (no fsync, no storage).
// It exits after -n messages, printing "received N messages, last at
// <unix time with ns> over C connections" so that the script can time
// the relay and show how often connections were reused.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.33:2533", "listen address")
	n := flag.Int64("n", 2000, "messages to wait for")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smtpsink:", err)
		os.Exit(1)
	}
	var got, conns atomic.Int64
	done := make(chan time.Time, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go serve(c, func() {
				if got.Add(1) == *n {
					done <- time.Now()
				}
			})
		}
	}()
	last := <-done
	fmt.Printf("received %d messages, last at %d.%09d over %d connections\n", *n, last.Unix(), last.Nanosecond(), conns.Load())
}

// serve answers one client: EHLO/HELO, MAIL, RCPT, DATA (counted at
// the final dot), RSET, NOOP, QUIT.
func serve(c net.Conn, delivered func()) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriter(c)
	reply := func(s string) bool {
		w.WriteString(s + "\r\n")
		return w.Flush() == nil
	}
	if !reply("220 smtpsink ESMTP") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.TrimSpace(line))
		if i := strings.IndexAny(verb, " :"); i >= 0 {
			verb = verb[:i]
		}
		switch verb {
		case "EHLO":
			if !reply("250-smtpsink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE") {
				return
			}
		case "HELO", "MAIL", "RCPT", "RSET", "NOOP":
			if !reply("250 2.0.0 Ok") {
				return
			}
		case "DATA":
			if !reply("354 go ahead") {
				return
			}
			for {
				l, err := r.ReadSlice('\n')
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
				if string(l) == ".\r\n" {
					break
				}
			}
			delivered()
			if !reply("250 2.0.0 Ok: queued") {
				return
			}
		case "QUIT":
			reply("221 2.0.0 Bye")
			return
		default:
			if !reply("502 5.5.2 Error: command not recognized") {
				return
			}
		}
	}
}
