// SPDX-License-Identifier: MIT

package privsep

import (
	"bytes"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

func ctrlPair(t *testing.T) (*ctrlConn, *ctrlConn) {
	t.Helper()
	a, b, err := socketpair(syscall.SOCK_SEQPACKET)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := newCtrl(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := newCtrl(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ca.close(); cb.close() })
	return ca, cb
}

// TestControlMessages: messages keep their boundaries, a descriptor
// arrives as a working file, and a closed end reads as IsClosed.
func TestControlMessages(t *testing.T) {
	root, worker := ctrlPair(t)
	if err := root.send(kindHello, []byte(`{"x":1}`), nil); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := root.send(kindSession, []byte("session"), w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	kind, body, f, err := worker.recv()
	if err != nil || kind != kindHello || string(body) != `{"x":1}` || f != nil {
		t.Fatalf("hello: %c %q %v %v", kind, body, f, err)
	}
	kind, body, f, err = worker.recv()
	if err != nil || kind != kindSession || string(body) != "session" || f == nil {
		t.Fatalf("session: %c %q %v %v", kind, body, f, err)
	}
	// The passed descriptor is the pipe's write end.
	f.Write([]byte("through"))
	f.Close()
	got, _ := io.ReadAll(r)
	if string(got) != "through" {
		t.Errorf("read %q through the passed descriptor", got)
	}
	if err := root.send(kindSession, bytes.Repeat([]byte("x"), maxMessage), nil); err == nil {
		t.Error("an over-long message was sent")
	}
	root.close()
	if _, _, _, err := worker.recv(); !IsClosed(err) {
		t.Errorf("after close: %v", err)
	}
}

// TestWorkerNotice: Next hands notices to Notice, skips session
// messages without a descriptor, acknowledges a session at once and
// returns it only after its go; sessions without a go are closed when
// the control socket ends.
func TestWorkerNotice(t *testing.T) {
	root, end := ctrlPair(t)
	w := &Worker{ctrl: end}
	var notices []string
	w.Notice = func(msg []byte, f *os.File) {
		notices = append(notices, string(msg))
		if f != nil {
			f.Close()
		}
	}
	r, pw, _ := os.Pipe()
	defer r.Close()
	root.send(kindNotice, []byte("log"), pw)
	root.send(kindSession, putSeq(1, []byte("no fd")), nil)
	root.send(kindSession, putSeq(2, []byte("with fd")), pw)
	root.send(kindSession, []byte("short"), pw)
	root.send(kindSession, putSeq(3, []byte("never go")), pw)
	root.send(kindGo, putSeq(7, nil), nil)
	root.send(kindGo, putSeq(2, nil), nil)
	pw.Close()
	body, f, err := w.Next()
	if err != nil || string(body) != "with fd" || f == nil {
		t.Fatalf("Next: %q %v %v", body, f, err)
	}
	f.Close()
	if len(notices) != 1 || notices[0] != "log" {
		t.Errorf("notices %q", notices)
	}
	for _, want := range []uint64{2, 3} {
		kind, b, _, err := root.recv()
		if seq, _, _ := getSeq(b); err != nil || kind != kindAck || seq != want {
			t.Fatalf("ack: %c %x %v, want the ack of %d", kind, b, err, want)
		}
	}
	w.Done()
	if kind, _, _, err := root.recv(); err != nil || kind != kindDone {
		t.Errorf("Done: %c %v", kind, err)
	}
	// Session 3 never got its go: when the root process closes the
	// socket, Next closes it, and the pipe's last writer is gone.
	root.close()
	if _, _, err := w.Next(); !IsClosed(err) {
		t.Errorf("Next after close: %v", err)
	}
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(r); err != nil || len(b) != 0 {
		t.Errorf("pipe after the held session was dropped: %q %v", b, err)
	}
}

// TestProxy: bytes flow both ways; the client going away is EOF for the
// worker, and the worker closing its end closes the client.
func TestProxy(t *testing.T) {
	for _, closer := range []string{"client", "worker"} {
		t.Run(closer, func(t *testing.T) {
			px, err := NewProxy()
			if err != nil {
				t.Fatal(err)
			}
			wc, err := net.FileConn(px.Worker)
			px.Worker.Close()
			if err != nil {
				t.Fatal(err)
			}
			defer wc.Close()
			cl, srv := net.Pipe()
			done := make(chan struct{})
			go func() { px.Run(srv); close(done) }()
			cl.Write([]byte("a LOGOUT\r\n"))
			buf := make([]byte, 64)
			n, _ := io.ReadAtLeast(wc, buf, 10)
			if string(buf[:n]) != "a LOGOUT\r\n" {
				t.Errorf("worker read %q", buf[:n])
			}
			go wc.Write([]byte("* BYE\r\n"))
			n, _ = io.ReadAtLeast(cl, buf, 7)
			if string(buf[:n]) != "* BYE\r\n" {
				t.Errorf("client read %q", buf[:n])
			}
			if closer == "client" {
				cl.Close()
				wc.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := wc.Read(buf); err != io.EOF {
					t.Errorf("worker after client close: %v", err)
				}
				wc.Close()
			} else {
				wc.Close()
				cl.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := cl.Read(buf); err == nil {
					t.Error("client still open after the worker closed")
				}
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return")
			}
		})
	}
}
