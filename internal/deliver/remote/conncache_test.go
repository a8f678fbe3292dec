// SPDX-License-Identifier: MIT

package remote

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingSink is a raw SMTP server that counts connections and
// commands, and can drop its connections (as a server's idle timeout
// does).
type countingSink struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	cmds  map[string]int
	quit  chan struct{} // one value per QUIT received
}

func startCountingSink(t *testing.T, ip string) *countingSink {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("listen on %s: %v", ip, err)
	}
	s := &countingSink{ln: ln, cmds: map[string]int{}, quit: make(chan struct{}, 100)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.drop()
	})
	return s
}

func (s *countingSink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	c.Write([]byte("220 sink ESMTP\r\n"))
	inData := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if inData {
			if line == ".\r\n" {
				inData = false
				c.Write([]byte("250 2.0.0 Ok: queued\r\n"))
			}
			continue
		}
		verb := strings.ToUpper(strings.TrimSpace(line))
		if i := strings.IndexAny(verb, " :"); i >= 0 {
			verb = verb[:i]
		}
		s.mu.Lock()
		s.cmds[verb]++
		s.mu.Unlock()
		switch verb {
		case "EHLO":
			c.Write([]byte("250-sink\r\n250 8BITMIME\r\n"))
		case "DATA":
			inData = true
			c.Write([]byte("354 go ahead\r\n"))
		case "QUIT":
			c.Write([]byte("221 2.0.0 Bye\r\n"))
			s.quit <- struct{}{}
			return
		default:
			c.Write([]byte("250 2.0.0 Ok\r\n"))
		}
	}
}

// counts returns the connections accepted and the count of each verb.
func (s *countingSink) counts() (int, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for k, v := range s.cmds {
		m[k] = v
	}
	return len(s.conns), m
}

// drop closes every connection from the server's side.
func (s *countingSink) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// waitQuit waits for n QUITs (a bound against hanging, not a timing
// assertion).
func (s *countingSink) waitQuit(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-s.quit:
		case <-time.After(10 * time.Second):
			t.Fatalf("no QUIT %d of %d", i+1, n)
		}
	}
}

func cacheCourier(s *countingSink, cc *ConnCache) *Courier {
	a := s.ln.Addr().(*net.TCPAddr)
	return &Courier{HeloName: "mail.hamap.local", SmartHost: "[" + a.IP.String() + "]", Port: a.Port, Cache: cc}
}

func deliverOK(t *testing.T, c *Courier, rcpt string) {
	t.Helper()
	res := c.Deliver(context.Background(), newMsg("outside.test", rcpt))
	if len(res) != 1 || res[0].Code != 0 {
		t.Fatalf("delivery to %s: %+v", rcpt, res)
	}
}

// TestConnCacheReuse: consecutive deliveries to one host share one
// connection, each reuse probed with RSET; EHLO is said once; closing
// the cache QUITs the connection.
func TestConnCacheReuse(t *testing.T) {
	s := startCountingSink(t, "127.0.0.25")
	cc := &ConnCache{Size: 2, Timeout: time.Minute}
	c := cacheCourier(s, cc)
	for _, r := range []string{"one@outside.test", "two@outside.test", "three@outside.test"} {
		deliverOK(t, c, r)
	}
	conns, cmds := s.counts()
	if conns != 1 || cmds["EHLO"] != 1 || cmds["RSET"] != 2 || cmds["MAIL"] != 3 || cmds["QUIT"] != 0 {
		t.Errorf("3 deliveries: %d connections, commands %v; want 1 connection, EHLO 1, RSET 2, MAIL 3, no QUIT", conns, cmds)
	}
	if cc.Idle() != 1 {
		t.Errorf("%d idle connections, want 1", cc.Idle())
	}
	cc.Close()
	s.waitQuit(t, 1)
	if cc.Idle() != 0 {
		t.Errorf("%d idle connections after Close", cc.Idle())
	}
	// A closed cache keeps nothing: the next delivery QUITs at once.
	deliverOK(t, c, "four@outside.test")
	s.waitQuit(t, 1)
}

// TestConnCacheDeadConnection: a cached connection the far side has
// dropped fails its RSET probe, and the delivery goes out on a new one.
func TestConnCacheDeadConnection(t *testing.T) {
	s := startCountingSink(t, "127.0.0.25")
	cc := &ConnCache{Size: 2, Timeout: time.Minute}
	defer cc.Close()
	c := cacheCourier(s, cc)
	deliverOK(t, c, "one@outside.test")
	s.drop()
	deliverOK(t, c, "two@outside.test")
	conns, cmds := s.counts()
	if conns != 2 || cmds["MAIL"] != 2 || cmds["EHLO"] != 2 {
		t.Errorf("%d connections, commands %v; want 2 connections, 2 EHLO, 2 MAIL", conns, cmds)
	}
}

// TestConnCacheEviction: a full cache closes its least recently used
// connection (with QUIT) to keep the new one.
func TestConnCacheEviction(t *testing.T) {
	a := startCountingSink(t, "127.0.0.25")
	b := startCountingSink(t, "127.0.0.26")
	cc := &ConnCache{Size: 1, Timeout: time.Minute}
	defer cc.Close()
	deliverOK(t, cacheCourier(a, cc), "one@outside.test")
	deliverOK(t, cacheCourier(b, cc), "two@outside.test")
	a.waitQuit(t, 1)
	deliverOK(t, cacheCourier(a, cc), "three@outside.test")
	if n, _ := a.counts(); n != 2 {
		t.Errorf("host a: %d connections, want 2 (its first was evicted)", n)
	}
	b.waitQuit(t, 1)
	if cc.Idle() != 1 {
		t.Errorf("%d idle connections, want 1", cc.Idle())
	}
}

// TestConnCacheTimeout: an idle connection is QUIT after
// ConnectionCacheTimeout; without a cache every delivery QUITs.
func TestConnCacheTimeout(t *testing.T) {
	s := startCountingSink(t, "127.0.0.25")
	cc := &ConnCache{Size: 2, Timeout: 50 * time.Millisecond}
	deliverOK(t, cacheCourier(s, cc), "one@outside.test")
	s.waitQuit(t, 1)
	if cc.Idle() != 0 {
		t.Errorf("%d idle connections after the timeout", cc.Idle())
	}
	for _, cache := range []*ConnCache{nil, {Size: 0}} {
		deliverOK(t, cacheCourier(s, cache), "two@outside.test")
		s.waitQuit(t, 1)
	}
	if n, _ := s.counts(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// TestTranscriptLikeSendmail: against a pipelining server (go-smtp, as
// in the real sendmail's vectors under internal/dsn/testdata), the
// transcript of a refused or deferred recipient is the one the real
// sendmail 8.17 wrote into its bounce and its delay warning.
func TestTranscriptLikeSendmail(t *testing.T) {
	_, port := startSink(t, "127.0.0.13", 0, nil)
	c := &Courier{HeloName: "mail.hamap.local", SmartHost: "[127.0.0.13]", Port: port}
	for rcpt, vector := range map[string]string{"bad@outside.example": "real-bounce.eml", "slow@outside.example": "real-warning.eml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "dsn", "testdata", vector))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "\r\n", "\n")
		_, after, _ := strings.Cut(text, "----- Transcript of session follows -----\n")
		// The transcript ends with the DATA reply; what follows it
		// (the warning's "Warning: ..." lines) is the DSN's own.
		i := strings.Index(after, "\n<<< 502 ")
		j := strings.IndexByte(after[i+1:], '\n')
		if i < 0 || j < 0 {
			t.Fatalf("%s: no transcript ending in a 502 reply", vector)
		}
		want := after[:i+1+j+1]
		res := c.Deliver(context.Background(), newMsg("outside.test", rcpt))
		if len(res) != 1 || res[0].Transcript != want {
			t.Errorf("%s: transcript\n%q\nwant the real sendmail's in %s:\n%q", rcpt, res[0].Transcript, vector, want)
		}
	}
}
