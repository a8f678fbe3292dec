// SPDX-License-Identifier: MIT

package privsep

import (
	"errors"
	"os"
	"sync"
)

// CtrlFD is the worker's control socket descriptor (ExtraFiles[0]).
const CtrlFD = 3

// Worker is the mail process's side of the control socket.
type Worker struct {
	// Notice, when set, gets the root process's notices (Pool.SetFiles)
	// from Next; the descriptor is its to close.
	Notice func(msg []byte, f *os.File)

	ctrl *ctrlConn
	mu   sync.Mutex // serialises Done
}

// NewWorker opens the control socket the root process passed as fd 3
// and returns the worker with the configuration (the Hello message).
func NewWorker() (*Worker, []byte, error) {
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
	return &Worker{ctrl: c}, body, nil
}

// Next waits for the next session: its description and connection. An
// error for which IsClosed is true means the root process has nothing
// more to give (it lingered out or is gone): finish the sessions served
// and exit.
func (w *Worker) Next() ([]byte, *os.File, error) {
	for {
		kind, body, f, err := w.ctrl.recv()
		if err != nil {
			return nil, nil, err
		}
		if kind == kindNotice && w.Notice != nil {
			w.Notice(body, f)
			continue
		}
		if kind != kindSession || f == nil {
			if f != nil {
				f.Close()
			}
			continue
		}
		return body, f, nil
	}
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
