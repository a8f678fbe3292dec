// SPDX-License-Identifier: MIT

package privsep

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// Proxy is a TLS (or any non-descriptor) client connection served by a
// worker through a socketpair: Worker is the end to hand over, Run
// copies between the client and the other end.
type Proxy struct {
	// Worker is the worker's end; close it once handed over.
	Worker *os.File
	local  *net.UnixConn
}

// NewProxy makes the socketpair for one proxied session.
func NewProxy() (*Proxy, error) {
	a, b, err := socketpair(syscall.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	nc, err := net.FileConn(a)
	a.Close()
	if err != nil {
		b.Close()
		return nil, err
	}
	return &Proxy{Worker: b, local: nc.(*net.UnixConn)}, nil
}

// copyBuf is the copy buffer: small, since one is held per direction of
// every idle proxied session.
const copyBuf = 4096

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBuf); return &b }}

// Run copies client <-> worker until either side ends, then closes both.
// It returns when both directions are done; bytes counts nothing (the
// worker counts what its session reads and writes).
func (p *Proxy) Run(client net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		// worker -> client; the worker closing its end (LOGOUT,
		// its death) ends the client connection.
		copyConn(client, p.local)
		client.Close()
		p.local.Close()
	}()
	// client -> worker; the client going away is EOF for the worker.
	copyConn(p.local, client)
	p.local.CloseWrite()
	<-done
}

// Abort closes the proxy without running it (the hand-over failed).
func (p *Proxy) Abort() {
	p.Worker.Close()
	p.local.Close()
}

func copyConn(dst io.Writer, src io.Reader) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			return
		}
	}
}
