// SPDX-License-Identifier: MIT

package mbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rewriteOpts are the options both processes of TestOpenDuringRewrite use:
// the same index, hence the same rollback journal.
func rewriteOpts(dir string) Options {
	return Options{Location: time.UTC, Hostname: "vm", IndexPath: filepath.Join(dir, ".imap", "INBOX", indexFile),
		Lock: LockOptions{Timeout: 30 * time.Second}}
}

// rewriteTargets: the helper changes the first few messages, so that each
// rewrite moves (and journals) nearly the whole file.
const rewriteTargets = 5

// rewriteKeyword is the keyword round r gives message uid: long enough that
// every change outgrows the header's padding and moves the rest of the file
// through the journal.
func rewriteKeyword(r int) string {
	return fmt.Sprintf("round-%d-%s", r, strings.Repeat("x", 80))
}

// TestRewriteHelperProcess is not a test: run by TestOpenDuringRewrite as
// another process, it rewrites the mailbox MBOX_REWRITE_N times, each time
// giving message (r % rewriteTargets)+1 a new keyword that outgrows its header.
func TestRewriteHelperProcess(t *testing.T) {
	path := os.Getenv("MBOX_REWRITE_PATH")
	if path == "" {
		t.Skip("helper for TestOpenDuringRewrite")
	}
	n, _ := strconv.Atoi(os.Getenv("MBOX_REWRITE_N"))
	ctx := context.Background()
	fail := func(what string, err error) {
		fmt.Println(what+":", err)
		os.Exit(1)
	}
	// Widen the window in which the journal exists and the file is
	// half rewritten.
	testHook = func(point string) error {
		if point == "message" || point == "truncate" {
			time.Sleep(50 * time.Microsecond)
		}
		return nil
	}
	for r := range n {
		mb, err := Open(ctx, path, rewriteOpts(filepath.Dir(path)))
		if err != nil {
			fail("open", err)
		}
		uid := uint32(r%rewriteTargets) + 1
		m, _ := mb.Message(uid)
		if err := mb.SetFlags(uid, m.Flags, []string{rewriteKeyword(r)}); err != nil {
			fail("set flags", err)
		}
		if err := mb.Close(ctx); err != nil {
			fail("close", err)
		}
	}
	os.Exit(0)
}

// TestOpenDuringRewrite: read-write opens in this process while another
// process keeps rewriting the file (journal, tail moved, truncate) must
// neither fail nor take the other's live journal for a crashed one and
// roll its rewrite back.
func TestOpenDuringRewrite(t *testing.T) {
	const msgs, rounds = 600, 6
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "inbox")
	if err := os.WriteFile(path, generateMbox(msgs, 3), 0o600); err != nil {
		t.Fatal(err)
	}
	mb, err := Open(ctx, path, rewriteOpts(dir))
	must(t, err)
	mb.TakeRecent()
	must(t, mb.Close(ctx))

	cmd := exec.Command(os.Args[0], "-test.run=^TestRewriteHelperProcess$")
	cmd.Env = append(os.Environ(), "MBOX_REWRITE_PATH="+path, "MBOX_REWRITE_N="+strconv.Itoa(rounds))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Several openers, so that some arrive while a rewrite is under way
	// (one alone would always be waiting in its read lock by then).
	stop := make(chan struct{})
	errs := make(chan error, 4)
	var opens atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(1+(g*13+i*7)%40) * time.Millisecond):
				}
				mb, err := Open(ctx, path, rewriteOpts(dir))
				if err != nil {
					errs <- fmt.Errorf("open during a rewrite: %w", err)
					return
				}
				opens.Add(1)
				n := mb.Len()
				if err := mb.Close(ctx); err != nil {
					errs <- fmt.Errorf("close: %w", err)
					return
				}
				if n != msgs {
					errs <- fmt.Errorf("open: %d messages, want %d", n, msgs)
					return
				}
			}
		}()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("helper: %v\n%s", err, out.String())
		}
	case err := <-errs:
		t.Error(err)
		cmd.Process.Kill()
		<-done
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d opens during %d rewrites", opens.Load(), rounds)

	// Every rewrite must have survived: the last keyword each message got.
	want := map[uint32][]string{}
	for r := range rounds {
		want[uint32(r%rewriteTargets)+1] = []string{rewriteKeyword(r)}
	}
	ref, err := Open(ctx, path, Options{Location: time.UTC, ReadOnly: true})
	must(t, err)
	defer ref.Close(ctx)
	got := map[uint32][]string{}
	for _, m := range ref.Messages() {
		if len(m.Keywords) > 0 {
			got[m.UID] = m.Keywords
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keywords after the rewrites (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(rewriteOpts(dir).IndexPath + ".journal"); err == nil {
		t.Errorf("journal left behind")
	}
}
