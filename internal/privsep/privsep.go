// SPDX-License-Identifier: MIT

// Package privsep is dovecotd's privilege separation, Dovecot's
// mail-process model done the Go way: the daemon started as root keeps
// its listeners, TLS and the login dialogue, and hands every logged-in
// session to a mail worker, a re-execution of the same binary running
// with the user's uid, gid and groups. One worker serves every session of
// one identity (Dovecot's client_limit > 1), so an idle connection costs
// a session's state and no process.
//
// A session travels to its worker as one message on the worker's control
// socket (an AF_UNIX SOCK_SEQPACKET pair): a sequence number, an opaque
// description the caller encodes, and the connection's descriptor by
// SCM_RIGHTS. The worker acknowledges it as soon as it holds the
// descriptor and serves it only when the root process says go, which it
// does after logging the login line; a worker that dies or does not
// acknowledge in time never serves it, and the root process, which kept
// its own copy of the descriptor, gives the session to a new worker. A plain
// TCP connection is passed itself, as Dovecot passes it; a TLS one is
// passed as one end of a socketpair whose other end the root process
// splices to the TLS connection (Dovecot's login process is the TLS proxy
// too).
package privsep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Message kinds on the control socket (first byte of every message).
const (
	kindHello   = 'H' // root -> worker: configuration, first message
	kindSession = 'S' // root -> worker: a session (sequence number, description), with its descriptor
	kindAck     = 'A' // worker -> root: session <seq> and its descriptor arrived
	kindGo      = 'G' // root -> worker: serve session <seq>
	kindDone    = 'D' // worker -> root: one session ended
	kindNotice  = 'N' // root -> worker: a notice, maybe with a descriptor
	kindPing    = 'P' // root -> worker: is the socket still open? (ignored)
)

// sendTimeout bounds the wait for room on a control socket.
const sendTimeout = 10 * time.Second

// maxMessage bounds a control message (a session description or the
// configuration).
const maxMessage = 64 * 1024

// socketpair returns a connected AF_UNIX pair of the given type, both
// ends close-on-exec.
func socketpair(typ int) (a, b *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "privsep"), os.NewFile(uintptr(fds[1]), "privsep"), nil
}

// ctrlConn is one end of a control socket.
type ctrlConn struct{ c *net.UnixConn }

func newCtrl(f *os.File) (*ctrlConn, error) {
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		nc.Close()
		return nil, errors.New("control socket is not a unix socket")
	}
	return &ctrlConn{c: uc}, nil
}

// send writes one message with an optional descriptor.
func (c *ctrlConn) send(kind byte, body []byte, f *os.File) error {
	if len(body)+1 > maxMessage {
		return fmt.Errorf("control message of %d bytes is too long", len(body))
	}
	msg := append([]byte{kind}, body...)
	var oob []byte
	if f != nil {
		oob = syscall.UnixRights(int(f.Fd()))
	}
	// A peer that stopped reading (a stopped or wedged worker whose
	// queue is full) must not hold the sender, which may be the pool
	// with its lock.
	c.c.SetWriteDeadline(time.Now().Add(sendTimeout))
	n, oobn, err := c.c.WriteMsgUnix(msg, oob, nil)
	if err != nil {
		return err
	}
	if n != len(msg) || oobn != len(oob) {
		return errors.New("short control message")
	}
	return nil
}

// recv reads one message; a descriptor that came with it is returned as
// a file. io.EOF means the other end closed.
func (c *ctrlConn) recv() (kind byte, body []byte, f *os.File, err error) {
	buf := make([]byte, maxMessage)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	n, oobn, flags, _, err := c.c.ReadMsgUnix(buf, oob)
	if errors.Is(err, io.EOF) {
		err = errEOF
	}
	if err != nil {
		return 0, nil, nil, err
	}
	if oobn > 0 {
		msgs, perr := syscall.ParseSocketControlMessage(oob[:oobn])
		if perr != nil {
			return 0, nil, nil, fmt.Errorf("control message: %w", perr)
		}
		for _, m := range msgs {
			fds, rerr := syscall.ParseUnixRights(&m)
			if rerr != nil {
				continue
			}
			for _, fd := range fds {
				syscall.CloseOnExec(fd)
				if f == nil {
					f = os.NewFile(uintptr(fd), "session")
				} else {
					syscall.Close(fd)
				}
			}
		}
	}
	if flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 {
		if f != nil {
			f.Close()
		}
		return 0, nil, nil, errors.New("truncated control message")
	}
	if n == 0 {
		if f != nil {
			f.Close()
		}
		return 0, nil, nil, errEOF
	}
	return buf[0], bytes.Clone(buf[1:n]), f, nil
}

func (c *ctrlConn) close() error { return c.c.Close() }

// errEOF is a closed control socket (SOCK_SEQPACKET reads 0 bytes).
var errEOF = errors.New("control socket closed")

// seqLen is the size of a session's sequence number in the session, ack
// and go messages.
const seqLen = 8

func putSeq(seq uint64, rest []byte) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, seqLen+len(rest)), seq), rest...)
}

func getSeq(body []byte) (uint64, []byte, bool) {
	if len(body) < seqLen {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(body), body[seqLen:], true
}

// IsClosed tells whether err is the end of the control socket.
func IsClosed(err error) bool { return errors.Is(err, errEOF) || errors.Is(err, net.ErrClosed) }
