// SPDX-License-Identifier: MIT

package deliver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mailsuite/pkg/mbox"
)

// failingReader gives some of a message, then an error.
type failingReader struct{ r io.Reader }

var errReader = errors.New("reader broke")

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errReader
	}
	return n, err
}

// TestBatchAppend queues deliveries to one mailbox while another process
// holds its lock: once the lock is free they are written as one batch
// under one lock, a message whose reader fails midway is cut off again
// and reported failed, and every other message arrives once and whole.
func TestBatchAppend(t *testing.T) {
	s := &Spool{Dir: t.TempDir()}
	r := self("u")
	if err := s.Append(context.Background(), r, "seed@x", strings.NewReader("Subject: seed\n\nseed\n")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var batches []int
	batchHook = func(n int) { mu.Lock(); batches = append(batches, n); mu.Unlock() }
	defer func() { batchHook = nil }()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHolder$")
	cmd.Env = append(os.Environ(), holderEnv+"="+s.Path("u"))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)

	const n = 11
	const bad = 5
	errs := make([]error, n)
	var wg sync.WaitGroup
	send := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf("Subject: m%d\n\nFrom the test %d\n%s\n", i, i, strings.Repeat("x", 4000))
			var rd io.Reader = strings.NewReader(body)
			if i == bad {
				rd = &failingReader{r: strings.NewReader(body)}
			}
			errs[i] = s.Append(context.Background(), r, fmt.Sprintf("s%d@x", i), rd)
		}()
	}
	q := mailboxQueue(s.Path("u"))
	waitQueue := func(what string, ok func(busy bool, pending int) bool) {
		for deadline := time.Now().Add(30 * time.Second); ; {
			q.mu.Lock()
			done := ok(q.busy, len(q.pending))
			q.mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timeout waiting for %s (busy %v, %d pending, errs %v)", what, q.busy, len(q.pending), errs)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The first message's goroutine becomes the writer and waits for
	// the lock with its batch of one; the others queue behind it.
	send(0)
	waitQueue("the first writer", func(busy bool, pending int) bool { return busy && pending == 0 })
	for i := 1; i < n; i++ {
		send(i)
	}
	waitQueue("the queue", func(_ bool, pending int) bool { return pending == n-1 })
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("locker: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if i == bad {
			if !errors.Is(err, errReader) {
				t.Errorf("message %d: %v, want the reader's error", i, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	mu.Lock()
	got := slices.Clone(batches)
	mu.Unlock()
	if want := []int{1, n - 1}; !slices.Equal(got, want) {
		t.Errorf("batches %v, want %v (the first writer alone, then the rest together)", got, want)
	}
	mb, err := mbox.Open(context.Background(), s.Path("u"), mbox.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close(context.Background())
	msgs := mb.Messages()
	if len(msgs) != n {
		t.Fatalf("%d messages, want %d (the seed and %d delivered)", len(msgs), n, n-1)
	}
	seen := map[string]int{}
	for _, m := range msgs[1:] {
		rd, err := mb.Reader(m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rd)
		subj, _, _ := strings.Cut(string(b), "\n")
		seen[subj]++
		if !strings.HasSuffix(strings.TrimRight(string(b), "\n"), "\n"+strings.Repeat("x", 4000)) {
			t.Errorf("%s: damaged body", subj)
		}
	}
	for i := range n {
		want := 1
		if i == bad {
			want = 0
		}
		if c := seen[fmt.Sprintf("Subject: m%d", i)]; c != want {
			t.Errorf("message %d arrived %d times, want %d", i, c, want)
		}
	}
}

const holderEnv = "DELIVER_TEST_HOLDER"

// TestHelperHolder is a child process of TestBatchAppend: it takes the
// mailbox's write lock (fcntl and dotlock), says "locked" and keeps the
// lock until its standard input ends.
func TestHelperHolder(t *testing.T) {
	path := os.Getenv(holderEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk, err := mbox.LockFile(context.Background(), f, path, true, mbox.LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	lk.Unlock()
}
