// SPDX-License-Identifier: MIT

// Command imapbench is the driver behind bench/imap.sh: it runs real
// Dovecot (its full daemon, from a private base_dir and config on a
// private 127.0.0.x address) and dovecotd on the same generated mboxes
// and times, at the client, what issue 6 asks for: cold SELECT (no index,
// the mbox evicted from the page cache), warm SELECT, FETCH 1:* (FLAGS UID
// RFC822.SIZE ENVELOPE), every body once (BODY.PEEK[] of 1:*), sessions/s
// of 20 concurrent LOGIN/SELECT/FETCH/LOGOUT loops, and the PSS of all the
// server's processes with many IDLE connections open. Beside each wall
// time it prints the CPU time the server's processes used (user+system,
// children included), which the load of a shared machine disturbs less.
//
// It needs root: Dovecot's master must start as root, and the mail user
// is nobody. Servers are started and stopped by PID; nothing outside the
// work directory is touched.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	password = "b-secret"
	// passHash is password under {SHA512-CRYPT}, the scheme both servers
	// verify in their passwd-file passdb.
	passHash = "{SHA512-CRYPT}$6$abcdefgh$MxsobjqfFEN9icBdnbfNf7x6xHktiBf8NnfnH06XyQJi3/5wTchWYqmPV/n7dnrwZ7F9q1CUmR26/SARgAjUG0"
	nobody   = 65534
)

type options struct {
	sizes    []int
	runs     int
	msgLines int
	idle     int
	sessConc int
	sessDur  time.Duration
	dovecot  string
	dovecotd string
	modes    []string
	work     string
	skipReal bool
	settle   time.Duration
}

func main() {
	var o options
	sizes := flag.String("sizes", "1000,10000,100000", "mailbox sizes (messages)")
	flag.IntVar(&o.runs, "runs", 3, "runs per measurement (the median is printed)")
	flag.IntVar(&o.msgLines, "lines", 175, "body lines of 72 characters per message (175: about 13 KB)")
	flag.IntVar(&o.idle, "idle", 1000, "IDLE connections for the memory figure")
	flag.IntVar(&o.sessConc, "concurrency", 20, "concurrent sessions for sessions/s")
	flag.DurationVar(&o.sessDur, "sessions-for", 10*time.Second, "how long the sessions/s loops run")
	flag.StringVar(&o.dovecot, "dovecot", "/usr/sbin/dovecot", "real Dovecot's master binary")
	flag.StringVar(&o.dovecotd, "dovecotd", "", "dovecotd binary")
	modes := flag.String("modes", "user", "dovecotd modes: user (as nobody, no workers), root (as root, per-user workers)")
	flag.StringVar(&o.work, "work", "", "work directory (default: a new one under $TMPDIR, removed at the end)")
	flag.BoolVar(&o.skipReal, "no-dovecot", false, "measure dovecotd only")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "pause before reading PSS, and the CPU-quiet time after a cold SELECT is a third of it")
	flag.Parse()
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fatalf("bad size %q", s)
		}
		o.sizes = append(o.sizes, n)
	}
	sort.Ints(o.sizes)
	o.modes = strings.Split(*modes, ",")
	if o.dovecotd == "" {
		fatalf("-dovecotd is required")
	}
	if os.Getuid() != 0 {
		fatalf("run as root: Dovecot's master needs it (the mail user is nobody)")
	}
	// Raise our descriptor limit and pass it on to the servers (setting it
	// ourselves stops os/exec from restoring the old soft limit).
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	keep := o.work != ""
	if o.work == "" {
		d, err := os.MkdirTemp("", "imapbench.")
		if err != nil {
			fatalf("%v", err)
		}
		o.work = d
	}
	os.Chmod(o.work, 0o755)
	err := run(&o)
	stopAll()
	if !keep {
		os.RemoveAll(o.work)
	}
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(f string, a ...any) {
	stopAll()
	fmt.Fprintf(os.Stderr, "imapbench: "+f+"\n", a...)
	os.Exit(1)
}

// A server under test: one config, one home for b, one address.
type server struct {
	name   string
	label  string
	dir    string
	home   string
	addr   string
	bin    string
	asRoot bool // dovecotd: run as root (privilege separation), else as nobody
	real   bool
	cmd    *exec.Cmd
	exited chan error
}

var (
	runningMu sync.Mutex
	running   = map[*server]bool{}
)

func stopAll() {
	runningMu.Lock()
	var l []*server
	for s := range running {
		l = append(l, s)
	}
	runningMu.Unlock()
	for _, s := range l {
		s.stop()
	}
}

func newServer(o *options, name, label, ip, bin string, real, asRoot bool) (*server, error) {
	s := &server{name: name, label: label, dir: filepath.Join(o.work, name), bin: bin, real: real, asRoot: asRoot}
	s.home = filepath.Join(s.dir, "home", "b")
	if err := os.MkdirAll(filepath.Join(s.home, "mail"), 0o700); err != nil {
		return nil, err
	}
	os.Chmod(s.dir, 0o755)
	os.Chmod(filepath.Dir(s.home), 0o755)
	os.MkdirAll(filepath.Join(s.dir, "run"), 0o755)
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		return nil, err
	}
	s.addr = ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(s.addr)
	users := fmt.Sprintf("b:%s:%d:%d::%s::\n", passHash, nobody, nobody, s.home)
	// Dovecot's auth process runs as its internal user: the file is
	// world-readable, as in bench/imaptest.sh (the hash is a test one).
	if err := os.WriteFile(filepath.Join(s.dir, "users"), []byte(users), 0o644); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`protocols = imap
listen = %[2]s
base_dir = %[1]s/run
instance_name = imapbench-%[4]s
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = mbox:~/mail:INBOX=~/inbox
mail_max_userip_connections = 10000
default_client_limit = 10000
log_path = %[1]s/log
passdb {
  driver = passwd-file
  args = %[1]s/users
}
userdb {
  driver = passwd-file
  args = %[1]s/users
}
service imap {
  process_limit = 5000
}
service imap-login {
  inet_listener imap {
    address = %[2]s
    port = %[3]s
  }
  inet_listener imaps {
    port = 0
  }
}
`, s.dir, ip, port, name)
	if err := os.WriteFile(filepath.Join(s.dir, "dovecot.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	os.WriteFile(filepath.Join(s.dir, "log"), nil, 0o600)
	chownTree(filepath.Join(s.dir, "home"))
	os.Lchown(filepath.Join(s.dir, "log"), nobody, nobody)
	if !real && !asRoot {
		// dovecotd as nobody reads its passdb and writes base_dir itself.
		os.Lchown(filepath.Join(s.dir, "users"), nobody, nobody)
		chownTree(filepath.Join(s.dir, "run"))
	}
	return s, nil
}

func chownTree(root string) {
	filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, nobody, nobody) })
}

func (s *server) start() error {
	conf := filepath.Join(s.dir, "dovecot.conf")
	if s.real {
		s.cmd = exec.Command(s.bin, "-F", "-c", conf)
	} else {
		s.cmd = exec.Command(s.bin, "-c", conf)
		if !s.asRoot {
			s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
		}
	}
	s.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TZ=UTC"}
	errf, err := os.OpenFile(filepath.Join(s.dir, "stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.cmd.Stdout, s.cmd.Stderr = errf, errf
	if err := s.cmd.Start(); err != nil {
		errf.Close()
		return err
	}
	errf.Close()
	s.exited = make(chan error, 1)
	go func(c *exec.Cmd, ch chan error) { ch <- c.Wait() }(s.cmd, s.exited)
	runningMu.Lock()
	running[s] = true
	runningMu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			b, _ := os.ReadFile(filepath.Join(s.dir, "stderr"))
			return fmt.Errorf("%s exited at start: %v\n%s", s.name, err, b)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: nothing listens on %s", s.name, s.addr)
}

// stop sends SIGTERM to the server's main process (its PID) and waits;
// Dovecot's master and dovecotd stop their own children.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
	runningMu.Lock()
	delete(running, s)
	runningMu.Unlock()
	// Let the children the master stopped go away before the next start.
	time.Sleep(200 * time.Millisecond)
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// install puts a fresh copy of src in place as b's INBOX, with no index
// (Dovecot's and ours both live under ~/mail/.imap), and evicts it from
// the page cache so the next SELECT reads it from the disk.
func (s *server) install(src string) error {
	os.RemoveAll(filepath.Join(s.home, "mail", ".imap"))
	dst := filepath.Join(s.home, "inbox")
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	unix.Fadvise(int(out.Fd()), 0, 0, unix.FADV_DONTNEED)
	out.Close()
	os.Lchown(dst, nobody, nobody)
	return nil
}

// evict drops a file's pages from the page cache (after syncing it).
func evict(path string) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return
	}
	f.Sync()
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	f.Close()
}

// genMbox writes n procmail-style messages: the headers a delivery
// leaves, then lines body lines of 72 characters.
func genMbox(path string, n, lines int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := strings.Repeat("lorem ipsum dolor sit amet ", 3)[:72]
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		d := t0.Add(time.Duration(i) * time.Minute)
		fmt.Fprintf(w, "From sender%d@example.org  %s\n", i%50, d.Format("Mon Jan _2 15:04:05 2006"))
		fmt.Fprintf(w, "Return-Path: <sender%d@example.org>\nReceived: from client.example.org (client.example.org [192.0.2.%d])\n\tby hamap.local (8.17.1.9/8.17.1.9) with ESMTP id 5AR%07dx; %s\n",
			i%50, i%250+1, i, d.Format(time.RFC1123Z))
		fmt.Fprintf(w, "Date: %s\nFrom: Sender %d <sender%d@example.org>\nTo: b@hamap.local\nSubject: benchmark message %d\nMessage-ID: <bench-%d@example.org>\n\n",
			d.Format(time.RFC1123Z), i%50, i%50, i, i)
		for j := 0; j < lines; j++ {
			w.WriteString(line)
			w.WriteByte('\n')
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ---- a minimal IMAP client ----

type client struct {
	c   net.Conn
	r   *bufio.Reader
	tag int
}

func dialIMAP(addr string) (*client, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	cl := &client{c: c, r: bufio.NewReaderSize(c, 1<<20)}
	line, err := cl.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(line, "* OK") {
		c.Close()
		return nil, fmt.Errorf("greeting %q", line)
	}
	return cl, nil
}

// result of one command: untagged responses, literal bytes read.
type result struct {
	untagged int
	literal  int64
}

// readLine reads one response line with its literals; it returns the text
// without literal data, and adds the literal sizes to *lit.
func (cl *client) readLine(lit *int64) (string, error) {
	var sb strings.Builder
	for {
		line, err := cl.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\r\n")
		sb.WriteString(line)
		n, ok := literalSize(line)
		if !ok {
			return sb.String(), nil
		}
		if _, err := io.CopyN(io.Discard, cl.r, n); err != nil {
			return "", err
		}
		*lit += n
	}
}

func literalSize(line string) (int64, bool) {
	if !strings.HasSuffix(line, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	digits := strings.TrimSuffix(line[i+1:len(line)-1], "+")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

func (cl *client) cmd(s string) (result, error) {
	cl.tag++
	tag := "b" + strconv.Itoa(cl.tag)
	var res result
	if _, err := io.WriteString(cl.c, tag+" "+s+"\r\n"); err != nil {
		return res, err
	}
	for {
		line, err := cl.readLine(&res.literal)
		if err != nil {
			return res, fmt.Errorf("%s: %w", s, err)
		}
		if strings.HasPrefix(line, tag+" ") {
			if !strings.HasPrefix(line[len(tag)+1:], "OK") {
				return res, fmt.Errorf("%s: %s", s, line)
			}
			return res, nil
		}
		if strings.HasPrefix(line, "* ") {
			res.untagged++
		}
	}
}

func (cl *client) login() error {
	_, err := cl.cmd("LOGIN b " + password)
	return err
}

func (cl *client) logout() {
	cl.cmd("LOGOUT")
	cl.c.Close()
}

// ---- process accounting ----

// tree returns pid and all its descendants.
func tree(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	kids := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(p); err == nil {
			kids[st.ppid] = append(kids[st.ppid], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, kids[out[i]]...)
	}
	return out
}

type procStat struct {
	ppid  int
	ticks int64 // utime+stime+cutime+cstime
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("bad stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
	if len(f) < 15 {
		return procStat{}, errors.New("short stat")
	}
	var st procStat
	st.ppid, _ = strconv.Atoi(f[1])
	for _, k := range f[11:15] {
		v, _ := strconv.ParseInt(k, 10, 64)
		st.ticks += v
	}
	return st, nil
}

// cpu is the CPU time, in seconds, the server's processes (living ones,
// and the reaped children counted in their parents) have used.
func (s *server) cpu() float64 {
	var t int64
	for _, p := range tree(s.pid()) {
		if st, err := readStat(p); err == nil {
			t += st.ticks
		}
	}
	return float64(t) / 100 // USER_HZ
}

// pss sums Pss over the server's processes (KiB) and counts them.
func (s *server) pss() (int64, int) {
	var sum int64
	n := 0
	for _, p := range tree(s.pid()) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/smaps_rollup")
		if err != nil {
			continue
		}
		n++
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Pss:") {
				f := strings.Fields(l)
				v, _ := strconv.ParseInt(f[1], 10, 64)
				sum += v
			}
		}
	}
	return sum, n
}

// quiesce waits until the server has used no CPU for quiet (a
// background header write or index save finishing), at most a minute.
// The mbox must not change either: a rewrite waiting on the disk uses
// little CPU.
func (s *server) quiesce(quiet time.Duration) {
	state := func() string {
		fi, err := os.Stat(filepath.Join(s.home, "inbox"))
		if err != nil {
			return fmt.Sprint(s.cpu())
		}
		return fmt.Sprint(s.cpu(), fi.Size(), fi.ModTime().UnixNano())
	}
	last := state()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(quiet)
		now := state()
		if now == last {
			return
		}
		last = now
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// ---- measurements ----

// sample is one timed operation: wall seconds and server CPU seconds.
type sample struct{ wall, cpu float64 }

type series []sample

func (s series) median() sample {
	if len(s) == 0 {
		return sample{}
	}
	w := make([]float64, len(s))
	c := make([]float64, len(s))
	for i, x := range s {
		w[i], c[i] = x.wall, x.cpu
	}
	return sample{med(w), med(c)}
}

func med(v []float64) float64 {
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// timed runs one command on cl and measures it.
func (s *server) timed(cl *client, command string) (sample, result, error) {
	c0 := s.cpu()
	t0 := time.Now()
	res, err := cl.cmd(command)
	wall := time.Since(t0).Seconds()
	return sample{wall, s.cpu() - c0}, res, err
}

type sizeResult struct {
	cold, warm, fetch, body series
	bodyBytes               int64
}

const fetchCmd = "FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)"

// measureSize does o.runs rounds of: fresh mbox without index, start the
// server, cold SELECT; then in a new session warm SELECT, the FETCH and
// all bodies.
func measureSize(o *options, s *server, src string, n int) (*sizeResult, error) {
	r := &sizeResult{}
	for i := 0; i < o.runs; i++ {
		s.stop()
		if err := s.install(src); err != nil {
			return nil, err
		}
		if err := s.start(); err != nil {
			return nil, err
		}
		cl, err := dialIMAP(s.addr)
		if err != nil {
			return nil, err
		}
		if err := cl.login(); err != nil {
			return nil, err
		}
		smp, res, err := s.timed(cl, "SELECT INBOX")
		if err != nil {
			return nil, err
		}
		_ = res
		r.cold = append(r.cold, smp)
		cl.logout()
		s.quiesce(o.settle / 3)

		cl, err = dialIMAP(s.addr)
		if err != nil {
			return nil, err
		}
		if err := cl.login(); err != nil {
			return nil, err
		}
		if smp, _, err = s.timed(cl, "SELECT INBOX"); err != nil {
			return nil, err
		}
		r.warm = append(r.warm, smp)
		smp, res, err = s.timed(cl, fetchCmd)
		if err != nil {
			return nil, err
		}
		if res.untagged != n {
			return nil, fmt.Errorf("%s: %d FETCH responses for %d messages", s.name, res.untagged, n)
		}
		r.fetch = append(r.fetch, smp)
		smp, res, err = s.timed(cl, "FETCH 1:* BODY.PEEK[]")
		if err != nil {
			return nil, err
		}
		r.body = append(r.body, smp)
		r.bodyBytes = res.literal
		cl.logout()
	}
	return r, nil
}

// sessions runs o.sessConc loops of LOGIN, SELECT INBOX, FETCH 1:*
// (FLAGS UID), LOGOUT for o.sessDur and returns sessions/s and the server
// CPU seconds per session.
func sessions(o *options, s *server) (rate, cpuPer float64, err error) {
	var done atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(o.sessDur)
	c0 := s.cpu()
	t0 := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < o.sessConc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if err := oneSession(s.addr); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0).Seconds()
	if e, ok := firstErr.Load().(error); ok {
		return 0, 0, e
	}
	n := float64(done.Load())
	if n == 0 {
		return 0, 0, errors.New("no session completed")
	}
	return n / wall, (s.cpu() - c0) / n, nil
}

func oneSession(addr string) error {
	cl, err := dialIMAP(addr)
	if err != nil {
		return err
	}
	defer cl.c.Close()
	if err := cl.login(); err != nil {
		return err
	}
	if _, err := cl.cmd("SELECT INBOX"); err != nil {
		return err
	}
	if _, err := cl.cmd("FETCH 1:* (FLAGS UID)"); err != nil {
		return err
	}
	if _, err := cl.cmd("LOGOUT"); err != nil {
		return err
	}
	// Wait for the server to close, as a client would.
	cl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, cl.r)
	return nil
}

type idleResult struct {
	base, total int64 // KiB
	baseProcs   int
	procs       int
	conns       int
}

// idleMemory opens o.idle connections that LOGIN, SELECT INBOX and IDLE,
// then sums the server's PSS.
func idleMemory(o *options, s *server) (*idleResult, error) {
	r := &idleResult{conns: o.idle}
	// A fresh server (the index is kept), one session, then the base.
	s.stop()
	if err := s.start(); err != nil {
		return nil, err
	}
	if err := oneSession(s.addr); err != nil {
		return nil, err
	}
	time.Sleep(o.settle)
	r.base, r.baseProcs = s.pss()
	conns := make([]*client, o.idle)
	var firstErr atomic.Value
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= o.idle {
					return
				}
				cl, err := idleConn(s.addr)
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d: %w", i, err))
					return
				}
				conns[i] = cl
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				io.WriteString(c.c, "DONE\r\n")
				c.c.Close()
			}
		}
	}()
	if e, ok := firstErr.Load().(error); ok {
		return nil, e
	}
	time.Sleep(o.settle)
	r.total, r.procs = s.pss()
	return r, nil
}

func idleConn(addr string) (*client, error) {
	cl, err := dialIMAP(addr)
	if err != nil {
		return nil, err
	}
	if err := cl.login(); err != nil {
		cl.c.Close()
		return nil, err
	}
	if _, err := cl.cmd("SELECT INBOX"); err != nil {
		cl.c.Close()
		return nil, err
	}
	io.WriteString(cl.c, "i IDLE\r\n")
	for {
		var lit int64
		line, err := cl.readLine(&lit)
		if err != nil {
			cl.c.Close()
			return nil, err
		}
		if strings.HasPrefix(line, "+") {
			return cl, nil
		}
		if strings.HasPrefix(line, "i ") {
			cl.c.Close()
			return nil, fmt.Errorf("IDLE: %s", line)
		}
	}
}

// ddDirect times an uncached sequential read of path (dd iflag=direct).
func ddDirect(path string, runs int) (float64, error) {
	var v []float64
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		out, err := exec.Command("dd", "if="+path, "of=/dev/null", "bs=4M", "iflag=direct").CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("dd: %v %s", err, out)
		}
		v = append(v, time.Since(t0).Seconds())
	}
	return med(v), nil
}

// ---- the run ----

type serverResults struct {
	s       *server
	sizes   map[int]*sizeResult
	rate    float64
	sessCPU float64
	idle    *idleResult
}

func run(o *options) error {
	fmt.Printf("imapbench: sizes %v, %d runs (medians), %d-line bodies, %d IDLE connections, %d concurrent sessions for %v\n",
		o.sizes, o.runs, o.msgLines, o.idle, o.sessConc, o.sessDur)
	fmt.Printf("load average at start: %s\n", loadavg())
	var servers []*server
	if !o.skipReal {
		s, err := newServer(o, "dovecot", "Dovecot 2.3", "127.0.0.61", o.dovecot, true, false)
		if err != nil {
			return err
		}
		servers = append(servers, s)
	}
	for i, m := range o.modes {
		switch m {
		case "user":
			s, err := newServer(o, "dovecotd", "dovecotd (as nobody)", "127.0.0."+strconv.Itoa(62+i), o.dovecotd, false, false)
			if err != nil {
				return err
			}
			servers = append(servers, s)
		case "root":
			s, err := newServer(o, "dovecotd-root", "dovecotd (root, workers)", "127.0.0."+strconv.Itoa(62+i), o.dovecotd, false, true)
			if err != nil {
				return err
			}
			servers = append(servers, s)
		default:
			return fmt.Errorf("unknown mode %q", m)
		}
	}
	results := make([]*serverResults, len(servers))
	for i, s := range servers {
		results[i] = &serverResults{s: s, sizes: map[int]*sizeResult{}}
	}
	srcs := map[int]string{}
	for _, n := range o.sizes {
		src := filepath.Join(o.work, fmt.Sprintf("src-%d.mbox", n))
		if err := genMbox(src, n, o.msgLines); err != nil {
			return err
		}
		srcs[n] = src
	}
	largest := o.sizes[len(o.sizes)-1]
	evict(srcs[largest])
	dd, err := ddDirect(srcs[largest], o.runs)
	if err != nil {
		return err
	}
	fi, _ := os.Stat(srcs[largest])
	fmt.Printf("dd iflag=direct of the %d-message mbox (%.0f MB): %.3f s (median of %d)\n", largest, float64(fi.Size())/1e6, dd, o.runs)

	for _, n := range o.sizes {
		for _, r := range results {
			fmt.Printf("[%s] %s, %d messages (load %s)\n", time.Now().UTC().Format("15:04:05"), r.s.label, n, loadavg())
			sr, err := measureSize(o, r.s, srcs[n], n)
			if err != nil {
				return fmt.Errorf("%s, %d messages: %w", r.s.name, n, err)
			}
			r.sizes[n] = sr
			if n == o.sizes[0] {
				fmt.Printf("[%s] %s: sessions/s (load %s)\n", time.Now().UTC().Format("15:04:05"), r.s.label, loadavg())
				r.rate, r.sessCPU, err = sessions(o, r.s)
				if err != nil {
					return fmt.Errorf("%s sessions: %w", r.s.name, err)
				}
				fmt.Printf("[%s] %s: %d IDLE connections (load %s)\n", time.Now().UTC().Format("15:04:05"), r.s.label, o.idle, loadavg())
				r.idle, err = idleMemory(o, r.s)
				if err != nil {
					return fmt.Errorf("%s idle: %w", r.s.name, err)
				}
			}
			r.s.stop()
			// Free the disk and cache: the next size brings its own copy.
			os.Remove(filepath.Join(r.s.home, "inbox"))
		}
	}
	fmt.Printf("load average at end: %s\n\n", loadavg())
	report(o, results, dd, largest)
	return nil
}

func report(o *options, results []*serverResults, dd float64, largest int) {
	ref := results[0] // real Dovecot unless -no-dovecot
	fmt.Printf("%-34s", "medians; wall s [server CPU s]")
	for _, r := range results {
		fmt.Printf(" %28s", r.s.label)
	}
	if len(results) > 1 {
		fmt.Printf("  %s/ours wall [cpu]", ref.s.name)
	}
	fmt.Println()
	row := func(name string, get func(*serverResults) sample, higherBetter bool, unit string) {
		fmt.Printf("%-34s", name)
		for _, r := range results {
			v := get(r)
			fmt.Printf(" %28s", fmt.Sprintf("%.4g%s [%.3g]", v.wall, unit, v.cpu))
		}
		for _, r := range results[1:] {
			a, b := get(ref), get(r)
			if higherBetter {
				fmt.Printf("  %.2fx", b.wall/a.wall)
			} else {
				fmt.Printf("  %.2fx [%s]", a.wall/b.wall, cpuRatio(a.cpu, b.cpu))
			}
		}
		fmt.Println()
	}
	for _, n := range o.sizes {
		n := n
		row(fmt.Sprintf("%d cold SELECT", n), func(r *serverResults) sample { return r.sizes[n].cold.median() }, false, "s")
		row(fmt.Sprintf("%d warm SELECT", n), func(r *serverResults) sample { return r.sizes[n].warm.median() }, false, "s")
		row(fmt.Sprintf("%d FETCH FLAGS UID SIZE ENVELOPE", n), func(r *serverResults) sample { return r.sizes[n].fetch.median() }, false, "s")
		row(fmt.Sprintf("%d FETCH BODY.PEEK[] all", n), func(r *serverResults) sample { return r.sizes[n].body.median() }, false, "s")
		fmt.Printf("%-34s", fmt.Sprintf("%d bodies MB/s", n))
		for _, r := range results {
			sr := r.sizes[n]
			fmt.Printf(" %28s", fmt.Sprintf("%.0f", float64(sr.bodyBytes)/1e6/sr.body.median().wall))
		}
		fmt.Println()
	}
	fmt.Printf("%-34s", "sessions/s [server CPU ms/session]")
	for _, r := range results {
		fmt.Printf(" %28s", fmt.Sprintf("%.1f [%.1f]", r.rate, r.sessCPU*1000))
	}
	for _, r := range results[1:] {
		fmt.Printf("  %.2fx [%.2fx]", r.rate/ref.rate, ref.sessCPU/nonzero(r.sessCPU))
	}
	fmt.Println()
	fmt.Printf("%-34s", fmt.Sprintf("PSS KiB/conn, %d IDLE (procs)", o.idle))
	for _, r := range results {
		i := r.idle
		fmt.Printf(" %28s", fmt.Sprintf("%.0f (%d->%d)", float64(i.total-i.base)/float64(i.conns), i.baseProcs, i.procs))
	}
	for _, r := range results[1:] {
		a, b := ref.idle, r.idle
		fmt.Printf("  %.2f of %s", float64(b.total-b.base)/nonzero(float64(a.total-a.base)), ref.s.name)
	}
	fmt.Println()
	fmt.Printf("%-34s", "PSS KiB total with them (idle base)")
	for _, r := range results {
		fmt.Printf(" %28s", fmt.Sprintf("%d (%d)", r.idle.total, r.idle.base))
	}
	fmt.Println()
	fmt.Printf("\ncold SELECT of %d messages against dd iflag=direct (%.3f s; target at most 2x):", largest, dd)
	for _, r := range results {
		fmt.Printf("  %s %.2fx", r.s.name, r.sizes[largest].cold.median().wall/dd)
	}
	fmt.Println()
}

func nonzero(v float64) float64 {
	if v == 0 {
		return 1e-9
	}
	return v
}

// cpuRatio is a/b, or "-" when either is below the 10 ms the kernel's
// CPU accounting resolves.
func cpuRatio(a, b float64) string {
	if a < 0.01 || b < 0.01 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
