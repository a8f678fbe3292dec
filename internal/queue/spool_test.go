// SPDX-License-Identifier: MIT

package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

func testEnvelope() *Envelope {
	return &Envelope{Priority: 30006, Sender: "<a@hamap.local>",
		Macros:     []Macro{{"r", "ESMTP"}, {"s", "client"}},
		Recipients: []Recipient{{Final: "RFC822; b@hamap.local", Flags: "PFD", Addr: "<b@hamap.local>"}},
		Headers:    []Header{{Name: "Subject", Value: " test"}}}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func openTestQueue(t *testing.T, dir string, opts Options) *Queue {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	q, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestCommitAndAbort(t *testing.T) {
	cases := []struct {
		name      string
		opts      PrepareOptions
		writes    []string
		abort     bool
		wantErr   error
		wantFiles func(id string) []string
		wantBody  string
	}{
		{name: "commit", writes: []string{"hello\n", "world\n"}, wantBody: "hello\nworld\n",
			wantFiles: func(id string) []string { return []string{"df" + id, "qf" + id} }},
		{name: "crlf split across writes", opts: PrepareOptions{CRLF: true}, writes: []string{"a\r", "\nb\r\n\rc\r"},
			wantBody: "a\nb\n\rc\r", wantFiles: func(id string) []string { return []string{"df" + id, "qf" + id} }},
		{name: "abort", writes: []string{"x\n"}, abort: true, wantFiles: func(string) []string { return nil }},
		{name: "too big", opts: PrepareOptions{Limit: 8}, writes: []string{"12345", "67890"}, wantErr: ErrTooBig,
			wantFiles: func(string) []string { return nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := queueDir(t)
			q := openTestQueue(t, dir, Options{})
			id := q.NewID()
			p, err := q.Prepare(context.Background(), id, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var werr error
			for _, w := range tc.writes {
				if _, err := p.Write([]byte(w)); err != nil {
					werr = err
				}
			}
			if tc.wantErr != nil && !errors.Is(werr, tc.wantErr) {
				t.Fatalf("write error %v, want %v", werr, tc.wantErr)
			}
			// Nothing is visible before Commit.
			var b bytes.Buffer
			if n, _ := List(&b, dir, ListOptions{}); n != 0 {
				t.Errorf("listed %d before commit", n)
			}
			env := testEnvelope()
			if tc.abort {
				err = p.Abort()
			} else {
				err = p.Commit(env)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("commit error %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantFiles(id), listDir(t, dir)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if tc.wantBody == "" {
				return
			}
			body, _ := os.ReadFile(filepath.Join(dir, "df"+id))
			if diff := cmp.Diff(tc.wantBody, string(body)); diff != "" {
				t.Errorf("df (-want +got):\n%s", diff)
			}
			raw, _ := os.ReadFile(filepath.Join(dir, "qf"+id))
			got, err := ReadEnvelope(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != 8 || got.Created == 0 || !strings.Contains(got.Inode, "/") {
				t.Errorf("V/T/I not filled in: %+v", got)
			}
			if diff := cmp.Diff(env, got, cmpopts.IgnoreUnexported(Header{})); diff != "" {
				t.Errorf("qf (-committed +read):\n%s", diff)
			}
			for _, f := range []string{"qf" + id, "df" + id} {
				if fi, _ := os.Stat(filepath.Join(dir, f)); fi.Mode().Perm() != 0o600 {
					t.Errorf("%s mode %v", f, fi.Mode())
				}
			}
		})
	}
}

func TestPrepareRefusesUsedID(t *testing.T) {
	dir := queueDir(t)
	q := openTestQueue(t, dir, Options{})
	for _, prefix := range []string{"qf", "df", "tf", "Qf"} {
		id := q.NewID()
		os.WriteFile(filepath.Join(dir, prefix+id), nil, 0o600)
		if _, err := q.Prepare(context.Background(), id, PrepareOptions{}); !errors.Is(err, fs.ErrExist) {
			t.Errorf("%s exists: Prepare err = %v", prefix, err)
		}
	}
	if _, err := q.Prepare(context.Background(), "../etc/x12345", PrepareOptions{}); err == nil {
		t.Error("bad id accepted")
	}
}

// TestConcurrentCommits: ids stay unique and every message lands whole.
func TestConcurrentCommits(t *testing.T) {
	dir := queueDir(t)
	q := openTestQueue(t, dir, Options{})
	var wg sync.WaitGroup
	const n = 200
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p, err := q.Prepare(context.Background(), q.NewID(), PrepareOptions{})
			if err != nil {
				errs <- err
				return
			}
			fmt.Fprintf(p, "message %d\n", i)
			errs <- p.Commit(testEnvelope())
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(listDir(t, dir)); got != 2*n {
		t.Errorf("%d files, want %d", got, 2*n)
	}
}

func TestLockUpdateDone(t *testing.T) {
	dir := queueDir(t)
	q := openTestQueue(t, dir, Options{})
	id := writeOurs(t, q, testEnvelope(), "body\n")

	l, err := q.Lock(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Lock(id); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock: %v, want ErrLocked", err)
	}
	env := *l.Envelope()
	env.Attempts++
	env.LastAttempt = 1795749171
	env.Message = "Deferred: Connection refused by [127.0.0.1]"
	if err := l.Update(&env); err != nil {
		t.Fatal(err)
	}
	// Still ours after the rewrite: the new file was locked before it
	// took the name.
	if _, err := q.Lock(id); !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock after Update: %v, want ErrLocked", err)
	}
	var b bytes.Buffer
	List(&b, dir, ListOptions{QueueLA: 1000})
	if !strings.Contains(b.String(), id+"*") || !strings.Contains(b.String(), "(Deferred: Connection refused by [127.0.0.1])") {
		t.Errorf("listing while locked:\n%s", b.String())
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := q.Lock(id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&env, l2.Envelope(), cmpopts.IgnoreUnexported(Header{})); diff != "" {
		t.Errorf("reread (-updated +read):\n%s", diff)
	}
	if err := l2.Done(); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("files left after Done: %v", got)
	}
	if _, err := q.Lock(id); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lock of delivered message: %v", err)
	}
}

// TestLockStaleFile: a process that opened the qf just before another
// renamed a new version over it must not deliver from the old copy.
func TestLockStaleFile(t *testing.T) {
	dir := queueDir(t)
	q := openTestQueue(t, dir, Options{})
	id := writeOurs(t, q, testEnvelope(), "body\n")
	old, err := os.Open(filepath.Join(dir, "qf"+id))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	l, _ := q.Lock(id)
	env := *l.Envelope()
	l.Update(&env)
	l.Unlock()
	unix.Flock(int(old.Fd()), unix.LOCK_EX)
	if changed, err := replaced(old, filepath.Join(dir, "qf"+id)); err != nil || !changed {
		t.Errorf("replaced = %v, %v; want true", changed, err)
	}
}

// TestRecover puts the states a crash can leave on disk and checks that
// recovery queues exactly the accepted messages, moves the broken ones
// aside and deletes nothing.
func TestRecover(t *testing.T) {
	dir := queueDir(t)
	var alerts []string
	now := time.Now()
	q := openTestQueue(t, dir, Options{Now: func() time.Time { return now }, OrphanAge: time.Hour,
		Alert: func(qid, msg string) { alerts = append(alerts, qid+": "+msg) }})
	good := writeOurs(t, q, testEnvelope(), "good\n")
	noDF := writeOurs(t, q, testEnvelope(), "gone\n")
	os.Remove(filepath.Join(dir, "df"+noDF))
	cut := writeOurs(t, q, testEnvelope(), "cut\n")
	raw, _ := os.ReadFile(filepath.Join(dir, "qf"+cut))
	os.WriteFile(filepath.Join(dir, "qf"+cut), raw[:len(raw)/2], 0o600)
	locked := writeOurs(t, q, testEnvelope(), "busy\n")
	lf, _ := os.Open(filepath.Join(dir, "qf"+locked))
	defer lf.Close()
	unix.Flock(int(lf.Fd()), unix.LOCK_EX)
	// A crash between df and qf: a df (maybe half written) alone, and
	// one with its tf.
	halfDF := q.NewID()
	os.WriteFile(filepath.Join(dir, "df"+halfDF), []byte("half a bo"), 0o600)
	withTF := q.NewID()
	os.WriteFile(filepath.Join(dir, "df"+withTF), []byte("body\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "tf"+withTF), []byte("V8\nT1\n"), 0o600)
	// A qf rewrite that crashed: tf beside the good qf.
	os.WriteFile(filepath.Join(dir, "tf"+good), []byte("V8\n"), 0o600)
	before := listDir(t, dir)

	// Right after the crash, the leftovers are too young to judge.
	var got []string
	st, err := q.Recover(context.Background(), func(id string, env *Envelope) error {
		got = append(got, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{good}, got); diff != "" {
		t.Errorf("queued (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(RecoverStats{Queued: 1, Busy: 4, Lost: 1}, st); diff != "" {
		t.Errorf("stats right after the crash (-want +got):\n%s", diff)
	}

	// Two hours later everything is judged; nothing is deleted.
	now = now.Add(2 * time.Hour)
	got, alerts = nil, nil
	st, err = q.Recover(context.Background(), func(id string, env *Envelope) error {
		got = append(got, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{good}, got); diff != "" {
		t.Errorf("queued (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(RecoverStats{Queued: 1, Busy: 1, Lost: 1, Leftovers: 2, Orphans: 1}, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	after := listDir(t, dir)
	if len(after) != len(before) {
		t.Errorf("files before %v, after %v: something was deleted", before, after)
	}
	for _, want := range []string{"Qf" + noDF, "Qf" + cut, "Tf" + good, "Tf" + withTF, "df" + halfDF, "qf" + locked} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			t.Errorf("missing %s: %v", want, err)
		}
	}
	sort.Strings(alerts)
	wantAlerts := []string{
		cut + ": Losing ./qf" + cut + ": incomplete queue file read",
		good + ": Saving leftover ./tf" + good + " as ./Tf" + good,
		halfDF + ": data file ./df" + halfDF + " without control file left in place",
		withTF + ": Saving leftover ./tf" + withTF + " as ./Tf" + withTF,
	}
	sort.Strings(wantAlerts)
	if diff := cmp.Diff(wantAlerts, alerts); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	// The lost qf without df was logged on the first pass.
}

// TestRecoverManyBatches walks more entries than one directory batch.
func TestRecoverManyBatches(t *testing.T) {
	dir := queueDir(t)
	q := openTestQueue(t, dir, Options{})
	want := map[string]bool{}
	// Written directly: committing each with its fsyncs would only
	// make the test slow.
	for i := 0; i < 3*readBatch/2; i++ {
		id := q.NewID()
		os.WriteFile(filepath.Join(dir, "df"+id), []byte("x\n"), 0o600)
		os.WriteFile(filepath.Join(dir, "qf"+id), testEnvelope().Bytes(), 0o600)
		want[id] = true
	}
	got := map[string]bool{}
	st, err := q.Recover(context.Background(), func(id string, env *Envelope) error {
		if got[id] {
			t.Errorf("%s twice", id)
		}
		got[id] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Queued != len(want) || !cmp.Equal(want, got) {
		t.Errorf("recovered %d of %d", st.Queued, len(want))
	}
	stop := errors.New("stop")
	if _, err := q.Recover(context.Background(), func(string, *Envelope) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("callback error not returned: %v", err)
	}
}

// TestKillDuringAccept kills (SIGKILL) a process that is receiving a
// message, before and after its Commit: a message killed before Commit
// is never queued (the client got no 250), one killed after is.
func TestKillDuringAccept(t *testing.T) {
	if os.Getenv("QUEUE_HELPER_DIR") != "" {
		t.Skip("helper")
	}
	for _, phase := range []string{"data", "committed"} {
		t.Run(phase, func(t *testing.T) {
			dir := queueDir(t)
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAccept$")
			cmd.Env = append(os.Environ(), "QUEUE_HELPER_DIR="+dir, "QUEUE_HELPER_PHASE="+phase)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			cmd.Process.Kill()
			cmd.Wait()
			if err != nil {
				t.Fatalf("helper: %v", err)
			}
			id := strings.TrimSpace(line)
			now := time.Now().Add(2 * time.Hour) // judge every leftover
			q := openTestQueue(t, dir, Options{Now: func() time.Time { return now }})
			var got []string
			if _, err := q.Recover(context.Background(), func(id string, env *Envelope) error {
				got = append(got, id)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var want []string
			if phase == "committed" {
				want = []string{id}
				body, _ := os.ReadFile(filepath.Join(dir, "df"+id))
				if string(body) != "killed\n" {
					t.Errorf("df = %q", body)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("queued after kill (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHelperAccept is the process TestKillDuringAccept kills.
func TestHelperAccept(t *testing.T) {
	dir := os.Getenv("QUEUE_HELPER_DIR")
	if dir == "" {
		t.Skip("run by TestKillDuringAccept")
	}
	q, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := q.NewID()
	p, err := q.Prepare(context.Background(), id, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Write([]byte("killed\n"))
	if os.Getenv("QUEUE_HELPER_PHASE") == "committed" {
		if err := p.Commit(testEnvelope()); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println(id)
	time.Sleep(time.Minute)
}

func TestReadHeader(t *testing.T) {
	cases := []struct {
		name     string
		in       string
		want     []Header
		wantRest string
		wantBody string
	}{
		{name: "crlf", in: "Subject: hi\r\nX-F: a\r\n\tb\r\n\r\nbody\r\n",
			want: []Header{{Name: "Subject", Value: " hi"}, {Name: "X-F", Value: " a\n\tb"}}, wantBody: "body\r\n"},
		{name: "no blank line", in: "Subject: hi\nnot a header\nmore\n",
			want: []Header{{Name: "Subject", Value: " hi"}}, wantRest: "not a header\n", wantBody: "more\n"},
		{name: "header only", in: "Subject: hi\n", want: []Header{{Name: "Subject", Value: " hi"}}},
		{name: "no header", in: "\nbody\n", wantBody: "body\n"},
		{name: "leading space line", in: " x\n", wantRest: " x\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tc.in))
			hdr, rest, err := ReadHeader(br)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(br)
			if diff := cmp.Diff(tc.want, hdr, cmpopts.IgnoreUnexported(Header{})); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if string(rest) != tc.wantRest || string(body) != tc.wantBody {
				t.Errorf("rest %q body %q, want %q %q", rest, body, tc.wantRest, tc.wantBody)
			}
		})
	}
}

// TestSplitHeader: with SplitHeader the message may arrive in any pieces
// (here: one byte at a time and all at once); the header is kept back as
// ReadHeader reads it and the df holds the body only.
func TestSplitHeader(t *testing.T) {
	cases := []struct {
		name     string
		in       string
		want     []Header
		wantBody string
	}{
		{"normal", "Subject: hi\r\nX-F: a\r\n\tb\r\n\r\nbody\r\n.x\r\n", []Header{{Name: "Subject", Value: " hi"}, {Name: "X-F", Value: " a\n\tb"}}, "body\n.x\n"},
		{"no blank line", "Subject: hi\r\nnot a header\r\nmore\r\n", []Header{{Name: "Subject", Value: " hi"}}, "not a header\nmore\n"},
		{"header only, no newline", "Subject: hi\r\nX: y", []Header{{Name: "Subject", Value: " hi"}, {Name: "X", Value: " y"}}, ""},
		{"body only", "\r\nbody\r", nil, "body\r"},
	}
	for _, tc := range cases {
		for _, chunk := range []int{1, 3, len(tc.in)} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, chunk), func(t *testing.T) {
				dir := queueDir(t)
				q := openTestQueue(t, dir, Options{})
				p, err := q.Prepare(context.Background(), q.NewID(), PrepareOptions{CRLF: true, SplitHeader: true})
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < len(tc.in); i += chunk {
					if _, err := p.Write([]byte(tc.in[i:min(i+chunk, len(tc.in))])); err != nil {
						t.Fatal(err)
					}
				}
				env := testEnvelope()
				if err := p.Commit(env); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, p.Header(), cmpopts.IgnoreUnexported(Header{})); diff != "" {
					t.Errorf("header (-want +got):\n%s", diff)
				}
				body, _ := os.ReadFile(filepath.Join(dir, "df"+p.ID()))
				if diff := cmp.Diff(tc.wantBody, string(body)); diff != "" {
					t.Errorf("df (-want +got):\n%s", diff)
				}
				if want := int64(len(strings.ReplaceAll(tc.in, "\r\n", "\n"))); p.Size() != want {
					t.Errorf("Size = %d, want %d", p.Size(), want)
				}
			})
		}
	}
}

// TestCommitLocked: the qf written by CommitLocked stays locked (a Lock
// by anyone else fails with ErrLocked, as sendmail's flock would) and
// its envelope is the one a Lock reads once it is let go.
func TestCommitLocked(t *testing.T) {
	dir := t.TempDir()
	q := openTestQueue(t, dir, Options{})
	id := q.NewID()
	p, err := q.Prepare(context.Background(), id, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(p, "body\n"); err != nil {
		t.Fatal(err)
	}
	l, err := p.CommitLocked(testEnvelope())
	if err != nil || l == nil {
		t.Fatalf("CommitLocked: %v, %v", l, err)
	}
	if l.ID() != id {
		t.Errorf("ID %q, want %q", l.ID(), id)
	}
	if _, err := q.Lock(id); !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock while held: %v, want ErrLocked", err)
	}
	held := *l.Envelope()
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := q.Lock(id)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	defer l2.Unlock()
	if d := cmp.Diff(*l2.Envelope(), held, cmp.AllowUnexported(Header{})); d != "" {
		t.Errorf("envelope held differs from the one read (-read +held):\n%s", d)
	}
	if got := listDir(t, dir); len(got) != 2 || got[0] != "df"+id || got[1] != "qf"+id {
		t.Errorf("queue holds %v, want df and qf of %s", got, id)
	}
}

// TestCommitWaitsForDataSync: the df is flushed while the tf is
// written, but the message becomes queued (qf renamed into place) only
// after the df's flush has succeeded; a failed flush fails the commit
// and leaves nothing behind.
func TestCommitWaitsForDataSync(t *testing.T) {
	defer func(f func(*os.File) error) { syncFile = f }(syncFile)
	for _, fail := range []bool{false, true} {
		dir := t.TempDir()
		q := openTestQueue(t, dir, Options{})
		id := q.NewID()
		p, err := q.Prepare(context.Background(), id, PrepareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(p, "body\n")
		started, release := make(chan struct{}), make(chan struct{})
		syncFile = func(f *os.File) error {
			close(started)
			<-release
			if fail {
				return errors.New("injected EIO")
			}
			return f.Sync()
		}
		done := make(chan error, 1)
		go func() { done <- p.Commit(testEnvelope()) }()
		<-started
		// The tf may be written meanwhile; the qf must not exist.
		time.Sleep(20 * time.Millisecond)
		if _, err := os.Stat(filepath.Join(dir, "qf"+id)); err == nil {
			t.Fatalf("qf%s exists before its df was flushed", id)
		}
		select {
		case err := <-done:
			t.Fatalf("Commit returned before the df flush: %v", err)
		default:
		}
		close(release)
		err = <-done
		switch got := listDir(t, dir); {
		case fail && (err == nil || !strings.Contains(err.Error(), "injected EIO")):
			t.Errorf("failed df flush: Commit = %v", err)
		case fail && len(got) != 0:
			t.Errorf("failed df flush left %v", got)
		case !fail && (err != nil || len(got) != 2):
			t.Errorf("Commit = %v, queue %v", err, got)
		}
	}
}
