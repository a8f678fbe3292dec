// SPDX-License-Identifier: MIT

package privsep

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// CtrlFD is the worker's control socket descriptor (ExtraFiles[0]).
const CtrlFD = 3

// Worker is the mail process's side of the control socket.
type Worker struct {
	// Notice, when set, gets the root process's notices (Pool.SetFiles)
	// from Next; the descriptor is its to close.
	Notice func(msg []byte, f *os.File)

	ctrl *ctrlConn
	mu   sync.Mutex // serialises Done and the acks
	priv *PrivGroup
	held map[uint64]heldSession // used by Next only
}

// NewWorker first drops to the worker's identity when it was started as
// root to keep mail_privileged_group as saved gid (Pool.start), then
// opens the control socket the root process passed as fd 3 and returns
// the worker with the configuration (the Hello message). Call it before
// anything else.
func NewWorker() (*Worker, []byte, error) {
	priv, err := dropPrivileges()
	if err != nil {
		return nil, nil, err
	}
	if err := leaveTerminal(); err != nil {
		return nil, nil, err
	}
	c, err := newCtrl(os.NewFile(CtrlFD, "control"))
	if err != nil {
		return nil, nil, err
	}
	kind, body, f, err := c.recv()
	if f != nil {
		f.Close()
	}
	if err != nil {
		c.close()
		return nil, nil, err
	}
	if kind != kindHello {
		c.close()
		return nil, nil, errors.New("control socket: no configuration")
	}
	return &Worker{ctrl: c, priv: priv}, body, nil
}

// leaveTerminal gives up the controlling terminal the worker inherits
// when the root process runs in one (dovecotd -F from a shell): the
// worker shares the root process's session (see Pool.start), and as the
// user it must not be able to open /dev/tty and feed the administrator's
// shell (TIOCSTI) or read what is typed there.
func leaveTerminal() error {
	fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		// ENXIO: no controlling terminal.
		return nil
	}
	defer unix.Close(fd)
	if err := unix.IoctlSetInt(fd, unix.TIOCNOTTY, 0); err != nil {
		return fmt.Errorf("leave the controlling terminal: %w", err)
	}
	return nil
}

// Privileged returns the function that runs file operations with
// mail_privileged_group as effective gid (mbox.LockOptions.Privileged),
// or nil when the worker keeps no such group.
func (w *Worker) Privileged() func(fn func() error) error {
	if w.priv == nil {
		return nil
	}
	return w.priv.Run
}

// Next waits for the next session: its description and connection. An
// error for which IsClosed is true means the root process has nothing
// more to give (it lingered out or is gone): finish the sessions served
// and exit.
//
// A session arrives in two steps: its descriptor, which Next
// acknowledges at once, then the root process's go once it has logged
// the login; only then does Next return it. A session the root process
// gave up on (it closed the control socket before its go) is closed
// unserved: it went to another worker.
func (w *Worker) Next() ([]byte, *os.File, error) {
	for {
		kind, body, f, err := w.ctrl.recv()
		if err != nil {
			for seq, s := range w.held {
				s.f.Close()
				delete(w.held, seq)
			}
			return nil, nil, err
		}
		switch {
		case kind == kindNotice && w.Notice != nil:
			w.Notice(body, f)
			continue
		case kind == kindSession && f != nil:
			seq, desc, ok := getSeq(body)
			if !ok {
				break
			}
			if old := w.held[seq]; old.f != nil {
				old.f.Close()
			}
			if w.held == nil {
				w.held = map[uint64]heldSession{}
			}
			w.held[seq] = heldSession{desc, f}
			w.mu.Lock()
			w.ctrl.send(kindAck, putSeq(seq, nil), nil)
			w.mu.Unlock()
			continue
		case kind == kindGo:
			seq, _, _ := getSeq(body)
			if s, ok := w.held[seq]; ok {
				delete(w.held, seq)
				return s.desc, s.f, nil
			}
		}
		if f != nil {
			f.Close()
		}
	}
}

// heldSession is a session acknowledged and waiting for its go.
type heldSession struct {
	desc []byte
	f    *os.File
}

// Done reports one session ended, so that the root process knows when
// the worker is idle.
func (w *Worker) Done() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ctrl.send(kindDone, nil, nil)
}

// Close closes the control socket.
func (w *Worker) Close() error { return w.ctrl.close() }
