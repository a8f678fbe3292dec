// SPDX-License-Identifier: MIT

package privsep

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Cred is the identity a worker runs with: Dovecot's mail process uid,
// gid and supplementary groups, and mail_privileged_group.
type Cred struct {
	UID, GID uint32
	Groups   []uint32
	// PrivGID, when not 0, is mail_privileged_group: the worker keeps it
	// as its saved gid only (never in Groups), and takes it as effective
	// gid on one thread for the dotlock and INBOX creation
	// (Worker.Privileged), as Dovecot does. The root group is never kept.
	PrivGID uint32
}

func (c Cred) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:%d:%d", c.UID, c.GID, c.PrivGID)
	for _, g := range c.Groups {
		b.WriteString("," + strconv.FormatUint(uint64(g), 10))
	}
	return b.String()
}

// Pool starts workers and hands sessions to them, one worker per Cred.
// A worker that has no session left for Linger is told to exit (its
// control socket is closed); a worker that dies takes its sessions with
// it and the next login starts a new one.
type Pool struct {
	// Path is the executable to run ("/proc/self/exe": the running
	// binary, even when the file was replaced since).
	Path string
	// Args is the worker's argv, Args[0] its name.
	Args []string
	// Env is the worker's environment (nil: none).
	Env []string
	// Hello is the first message every worker gets: its configuration.
	Hello []byte
	// Files are more descriptors for the worker, from fd 4 on (fd 3 is
	// the control socket).
	Files []*os.File
	// Stderr is the worker's standard error (nil: /dev/null).
	Stderr *os.File
	// Linger is how long a worker without sessions stays (0: 10 s).
	Linger time.Duration
	// AckTimeout bounds the wait for a worker to acknowledge a session
	// (0: DefaultAckTimeout).
	AckTimeout time.Duration
	// Errorf receives errors that reach no caller (a worker's exit, a
	// hand-over that was retried).
	Errorf func(format string, args ...any)

	mu      sync.Mutex
	workers map[string]*worker
	closed  bool
	wg      sync.WaitGroup
}

type worker struct {
	key      string
	uid      uint32
	cmd      *exec.Cmd
	ctrl     *ctrlConn
	sessions int // served and being handed over
	gone     bool
	linger   *time.Timer
	seq      uint64                   // last session number sent
	acks     map[uint64]chan struct{} // sessions sent and not yet acknowledged
	dead     chan struct{}            // closed once gone

	ackTimeout time.Duration // the tests' AckTimeout for this worker only
}

// AckTimeout is how long Handoff waits for a worker to acknowledge a
// session before it gives up on the worker (0: DefaultAckTimeout).
const DefaultAckTimeout = 10 * time.Second

// testHook, when set, is called by Handoff with "send" just before a
// session message goes to the worker and "sent" just after (the tests
// make a worker die in between).
var testHook func(event string, pid int)

// Handoff gives the session described by msg, with its connection f, to
// the worker for cred, starting one when none runs. before, when set, is
// called with the worker's pid (the mpid of Dovecot's login line) once
// the worker holds the session and before it serves it, so the login
// line comes before anything the worker logs. It returns the worker's
// pid. f stays the caller's to close; Handoff keeps no reference to it
// once it returns.
//
// A worker that cannot take the session (its control socket is closed,
// it dies before acknowledging, or it does not acknowledge within
// AckTimeout: it is left to finish its other sessions and gets no new
// one) is marked dead and the session goes to a new worker, once; the
// client notices nothing.
func (p *Pool) Handoff(cred Cred, msg []byte, f *os.File, before func(pid int)) (int, error) {
	if cred.UID == 0 {
		return 0, errors.New("privsep: refusing a worker with uid 0")
	}
	var last error
	for attempt := 0; attempt < 2; attempt++ {
		w, seq, err := p.offer(cred, msg, f)
		if err != nil {
			if w == nil {
				// No worker to blame (none could be started,
				// or the pool is closing): no retry helps.
				return 0, err
			}
			if p.Errorf != nil && attempt == 0 {
				p.Errorf("%v; trying a new mail worker", err)
			}
			last = err
			continue
		}
		pid := w.cmd.Process.Pid
		if before != nil {
			before(pid)
		}
		p.mu.Lock()
		if !w.gone && w.ctrl.send(kindGo, putSeq(seq, nil), nil) == nil {
			p.mu.Unlock()
			// A worker that dies from here on takes the session
			// along, as it takes the sessions it serves.
			return pid, nil
		}
		// It died after its ack: it never served the session, which
		// is still ours to give.
		last = fmt.Errorf("privsep: mail worker %d ended before it was told to serve the session", pid)
		p.failLocked(w, 0)
		p.mu.Unlock()
		if p.Errorf != nil && attempt == 0 {
			p.Errorf("%v; trying a new mail worker", last)
		}
	}
	return 0, last
}

// offer sends the session to the worker for cred (a new one if none runs
// or the one running is dead) and waits for its acknowledgement. On
// failure it returns the worker that failed, or nil when none was there
// to try.
func (p *Pool) offer(cred Cred, msg []byte, f *os.File) (*worker, uint64, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, 0, errors.New("privsep: shutting down")
	}
	w := p.workers[cred.key()]
	if w != nil && w.ctrl.send(kindPing, nil, nil) != nil {
		// It died, and watch has not noticed yet: the session goes to
		// a new one.
		p.dropLocked(w)
		w = nil
	}
	if w == nil {
		var err error
		if w, err = p.start(cred); err != nil {
			p.mu.Unlock()
			return nil, 0, err
		}
	}
	pid := w.cmd.Process.Pid
	// Counted from now on, so that lingering does not end the worker
	// while it is being handed the session.
	w.sessions++
	if w.linger != nil {
		w.linger.Stop()
		w.linger = nil
	}
	w.seq++
	seq := w.seq
	ack := make(chan struct{})
	w.acks[seq] = ack
	if testHook != nil {
		testHook("send", pid)
	}
	err := w.ctrl.send(kindSession, putSeq(seq, msg), f)
	if testHook != nil {
		testHook("sent", pid)
	}
	if err != nil {
		p.failLocked(w, seq)
		p.mu.Unlock()
		return w, 0, fmt.Errorf("privsep: hand session to worker %d: %w", pid, err)
	}
	p.mu.Unlock()

	timeout := p.AckTimeout
	if w.ackTimeout > 0 {
		timeout = w.ackTimeout
	}
	if timeout <= 0 {
		timeout = DefaultAckTimeout
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ack:
		return w, seq, nil
	case <-w.dead:
		err = fmt.Errorf("privsep: mail worker %d ended before it took the session", pid)
	case <-t.C:
		err = fmt.Errorf("privsep: mail worker %d did not take the session within %v", pid, timeout)
	}
	select {
	case <-ack:
		// It came after all (along with the end of the socket).
		return w, seq, nil
	default:
	}
	p.mu.Lock()
	p.failLocked(w, seq)
	p.mu.Unlock()
	return w, 0, err
}

// failLocked gives up on w after a failed hand-over of session seq: w
// gets no more sessions, and if it is alive it finishes the ones it
// serves (closing its control socket also makes it drop seq, which it
// never got a go for). p.mu is held.
func (p *Pool) failLocked(w *worker, seq uint64) {
	delete(w.acks, seq)
	if w.sessions > 0 {
		w.sessions--
	}
	p.dropLocked(w)
}

// start runs a worker for cred; p.mu is held.
func (p *Pool) start(cred Cred) (*worker, error) {
	ours, theirs, err := socketpair(syscall.SOCK_SEQPACKET)
	if err != nil {
		return nil, err
	}
	defer theirs.Close()
	ctrl, err := newCtrl(ours)
	if err != nil {
		return nil, err
	}
	path := p.Path
	if path == "" {
		path = "/proc/self/exe"
	}
	env := make([]string, 0, len(p.Env)+1)
	for _, kv := range p.Env {
		if !strings.HasPrefix(kv, dropEnv+"=") {
			env = append(env, kv)
		}
	}
	start := &syscall.Credential{Uid: cred.UID, Gid: cred.GID, Groups: cred.Groups}
	if cred.PrivGID != 0 {
		// A saved gid different from the real one cannot be given at
		// exec: the worker starts as root with the user's groups and
		// drops to uid and gid itself before reading anything
		// (Worker's dropPrivileges).
		start = &syscall.Credential{Uid: 0, Gid: 0, Groups: cred.Groups}
		env = append(env, fmt.Sprintf("%s=%d:%d:%d", dropEnv, cred.UID, cred.GID, cred.PrivGID))
	}
	cmd := &exec.Cmd{
		Path:       path,
		Args:       p.Args,
		Env:        env,
		Dir:        "/",
		ExtraFiles: append([]*os.File{theirs}, p.Files...),

		SysProcAttr: &syscall.SysProcAttr{
			Credential: start,
			// Its own process group, so that a terminal's ^C
			// reaches the root process only, but our session:
			// Linux schedules every session as a group of its own
			// (autogroup), and a worker in a session of its own
			// was served as a separate group, which halved its
			// throughput on a loaded machine against the same
			// code run in-process. Dovecot's mail processes stay
			// in the master's session too. The worker leaves any
			// controlling terminal it inherits (leaveTerminal).
			Setpgid: true,
			// The control socket's end tells the worker when we
			// are gone; SIGTERM covers a root process killed
			// outright.
			Pdeathsig: syscall.SIGTERM,
		},
	}
	if p.Stderr != nil {
		cmd.Stderr = p.Stderr
	}
	if err := cmd.Start(); err != nil {
		ctrl.close()
		return nil, fmt.Errorf("privsep: start worker for uid %d: %w", cred.UID, err)
	}
	w := &worker{key: cred.key(), uid: cred.UID, cmd: cmd, ctrl: ctrl, acks: map[uint64]chan struct{}{}, dead: make(chan struct{})}
	if err := ctrl.send(kindHello, p.Hello, nil); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		ctrl.close()
		return nil, fmt.Errorf("privsep: configure worker: %w", err)
	}
	if p.workers == nil {
		p.workers = map[string]*worker{}
	}
	p.workers[w.key] = w
	p.wg.Add(1)
	go p.watch(w)
	return w, nil
}

// watch reads the worker's reports until its control socket ends, then
// reaps it.
func (p *Pool) watch(w *worker) {
	defer p.wg.Done()
	for {
		kind, body, f, err := w.ctrl.recv()
		if f != nil {
			f.Close()
		}
		if err != nil {
			break
		}
		if kind == kindAck {
			if seq, _, ok := getSeq(body); ok {
				p.mu.Lock()
				if ch := w.acks[seq]; ch != nil {
					delete(w.acks, seq)
					close(ch)
				}
				p.mu.Unlock()
			}
			continue
		}
		if kind != kindDone {
			continue
		}
		p.mu.Lock()
		if w.sessions > 0 {
			w.sessions--
		}
		if w.sessions == 0 && !w.gone && !p.closed {
			linger := p.Linger
			if linger <= 0 {
				linger = 10 * time.Second
			}
			if w.linger != nil {
				w.linger.Stop()
			}
			w.linger = time.AfterFunc(linger, func() {
				p.mu.Lock()
				defer p.mu.Unlock()
				if w.sessions == 0 && !w.gone {
					// Closing our end ends the worker:
					// it has nothing left to serve.
					p.dropLocked(w)
				}
			})
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	p.dropLocked(w)
	p.mu.Unlock()
	err := w.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && p.Errorf != nil && !(errors.As(err, &ee) && ee.Exited() && ee.ExitCode() == 0) {
		p.Errorf("mail worker %d (uid %d) ended: %v", w.cmd.Process.Pid, w.uid, err)
	}
}

// dropLocked forgets w and closes its control socket; p.mu is held.
func (p *Pool) dropLocked(w *worker) {
	if w.gone {
		return
	}
	w.gone = true
	close(w.dead)
	if w.linger != nil {
		w.linger.Stop()
	}
	if p.workers[w.key] == w {
		delete(p.workers, w.key)
	}
	w.ctrl.close()
}

// SetFiles replaces Files for the workers started from now on, and sends
// every running worker the notice msg with f (a reopened log file after
// SIGHUP, say). The caller keeps f and the old files.
func (p *Pool) SetFiles(files []*os.File, msg []byte, f *os.File) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Files = files
	for _, w := range p.workers {
		if err := w.ctrl.send(kindNotice, msg, f); err != nil && p.Errorf != nil {
			p.Errorf("notify mail worker %d: %v", w.cmd.Process.Pid, err)
		}
	}
}

// Workers returns the pids of the running workers.
func (p *Pool) Workers() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for _, w := range p.workers {
		out = append(out, w.cmd.Process.Pid)
	}
	return out
}

// Close tells every worker to end its sessions (SIGTERM: Dovecot's
// "Server shutting down." to each client) and waits for them.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	for _, w := range p.workers {
		w.cmd.Process.Signal(syscall.SIGTERM)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
