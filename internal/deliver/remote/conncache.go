// SPDX-License-Identifier: MIT

package remote

import (
	"net"
	"net/textproto"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// ConnCache keeps SMTP connections open between deliveries, as
// sendmail's connection cache does (ConnectionCacheSize,
// ConnectionCacheTimeout): after a transaction the connection is kept
// instead of QUIT, and the next delivery to the same host and address
// reuses it after a probe (RSET; a failed probe closes it and the
// courier dials again). At most Size connections are kept; a full cache
// closes its least recently used one, and a connection idle for Timeout
// is closed. Sendmail keeps its cache per process, so a queue run reuses
// connections; sendmaild is one process, so its background deliveries
// share the cache too. The zero Size disables caching.
type ConnCache struct {
	Size    int
	Timeout time.Duration

	mu     sync.Mutex
	idle   []*session // least recently used first
	closed bool
}

// session is one open, greeted connection.
type session struct {
	key      string
	host     string
	progress func(rcpts []string, line string)
	conn     net.Conn // what go-smtp talks over (after STARTTLS, if any)
	tp       *textproto.Reader
	cl       *smtp.Client
	tls      bool
	auth     string
	quit     time.Duration // Timeout.quit
	probe    time.Duration // Timeout.misc, for the RSET probe
	timer    *time.Timer
}

// close ends a session with QUIT, as sendmail's mci_uncache does.
func (s *session) close() {
	if s.progress != nil {
		s.progress(nil, "Closing connection to "+s.host)
	}
	s.cl.CommandTimeout = s.quit
	if s.cl.Quit() != nil {
		s.cl.Close()
	}
}

// take returns an idle session for key, or nil. The session is probed
// with RSET first; one that fails the probe is closed and skipped.
func (cc *ConnCache) take(key string) *session {
	if cc == nil || cc.Size <= 0 {
		return nil
	}
	for {
		cc.mu.Lock()
		var s *session
		for i := len(cc.idle) - 1; i >= 0; i-- {
			if cc.idle[i].key == key {
				s = cc.idle[i]
				cc.idle = append(cc.idle[:i], cc.idle[i+1:]...)
				break
			}
		}
		cc.mu.Unlock()
		if s == nil {
			return nil
		}
		if !s.timer.Stop() {
			// The idle timer fired and is closing it.
			continue
		}
		if err := s.rset(); err != nil {
			s.cl.Close()
			continue
		}
		return s
	}
}

// put keeps s for later, or closes it when caching is off or the cache
// is closed.
func (cc *ConnCache) put(s *session) {
	if cc == nil || cc.Size <= 0 {
		s.close()
		return
	}
	cc.mu.Lock()
	if cc.closed {
		cc.mu.Unlock()
		s.close()
		return
	}
	var evict *session
	if len(cc.idle) >= cc.Size {
		evict = cc.idle[0]
		cc.idle = cc.idle[1:]
		if !evict.timer.Stop() {
			evict = nil // its timer is already closing it
		}
	}
	timeout := cc.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	s.timer = time.AfterFunc(timeout, func() {
		cc.mu.Lock()
		for i, x := range cc.idle {
			if x == s {
				cc.idle = append(cc.idle[:i], cc.idle[i+1:]...)
				break
			}
		}
		cc.mu.Unlock()
		s.close()
	})
	cc.idle = append(cc.idle, s)
	cc.mu.Unlock()
	if evict != nil {
		go evict.close()
	}
}

// Close QUITs every idle connection and keeps no more.
func (cc *ConnCache) Close() {
	if cc == nil {
		return
	}
	cc.mu.Lock()
	cc.closed = true
	cc.mu.Unlock()
	cc.CloseIdle()
}

// CloseIdle QUITs the idle connections; the cache goes on keeping new
// ones.
func (cc *ConnCache) CloseIdle() {
	if cc == nil {
		return
	}
	cc.mu.Lock()
	idle := cc.idle
	cc.idle = nil
	cc.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range idle {
		if s.timer.Stop() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.close()
			}()
		}
	}
	wg.Wait()
}

// Idle is the number of connections kept open.
func (cc *ConnCache) Idle() int {
	if cc == nil {
		return 0
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.idle)
}

// rset probes an idle connection with RSET and wants 250. It talks on
// the connection itself: go-smtp's Reset would make the next command
// send EHLO again.
func (s *session) rset() error {
	if err := s.send(s.probe, "RSET"); err != nil {
		return err
	}
	_, _, err := s.reply(s.probe)
	s.conn.SetDeadline(time.Time{})
	return err
}
