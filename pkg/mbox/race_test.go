// SPDX-License-Identifier: MIT

package mbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestAppendHelperProcess is not a test: run by TestConcurrentDelivery as
// another process, it delivers MBOX_APPEND_N messages with Append (our
// locks), like sendmaild's local delivery would.
func TestAppendHelperProcess(t *testing.T) {
	path := os.Getenv("MBOX_APPEND_PATH")
	if path == "" {
		t.Skip("helper for TestConcurrentDelivery")
	}
	n, _ := strconv.Atoi(os.Getenv("MBOX_APPEND_N"))
	ctx := context.Background()
	for i := range n {
		mb, err := Open(ctx, path, Options{Location: time.UTC, Hostname: "vm"})
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(1)
		}
		msg := fmt.Sprintf("From: a@example.org\r\nSubject: delivery %d\r\nMessage-ID: <d%d@example.org>\r\n\r\nFrom the helper, body %d\r\n", i, i, i)
		if _, err := mb.Append(ctx, bytes.NewReader([]byte(msg)), AppendOptions{Sender: "a@example.org"}); err != nil {
			fmt.Println("append:", err)
			os.Exit(1)
		}
		if err := mb.Close(ctx); err != nil {
			fmt.Println("close:", err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

var reMsgID = regexp.MustCompile(`Message-ID: <(d\d+)@example.org>`)

// TestConcurrentDelivery: another process delivers while this one keeps a
// session open doing flag changes and expunges. No message may be lost or
// duplicated, and UIDs stay strictly increasing and are never reused.
func TestConcurrentDelivery(t *testing.T) {
	const n = 60
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "inbox")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAppendHelperProcess$")
	cmd.Env = append(os.Environ(), "MBOX_APPEND_PATH="+path, "MBOX_APPEND_N="+strconv.Itoa(n))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	mb, err := Open(ctx, path, Options{Location: time.UTC, Hostname: "vm"})
	if err != nil {
		t.Fatal(err)
	}
	mb.TakeRecent()
	expunged := map[string]bool{}
	seenUID := map[uint32]string{}
	var maxUID uint32
	check := func() {
		var prev uint32
		for _, m := range mb.Messages() {
			if m.UID <= prev {
				t.Fatalf("UIDs not increasing: %d after %d", m.UID, prev)
			}
			prev = m.UID
			r, err := mb.Reader(m.UID)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r)
			id := reMsgID.FindStringSubmatch(string(b))
			if id == nil {
				t.Fatalf("uid %d: no Message-ID in %q", m.UID, b)
			}
			if old, ok := seenUID[m.UID]; ok && old != id[1] {
				t.Fatalf("uid %d reused: was %s, now %s", m.UID, old, id[1])
			}
			seenUID[m.UID] = id[1]
			maxUID = max(maxUID, m.UID)
		}
	}
	finished := false
	for round := 0; !finished; round++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out.String())
			}
			finished = true
		case <-time.After(20 * time.Millisecond):
		}
		if _, err := mb.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		check()
		msgs := mb.Messages()
		for i, m := range msgs {
			f := m.Flags | Seen
			if (i+round)%5 == 0 {
				f |= Deleted
			}
			if err := mb.SetFlags(m.UID, f, []string{"k" + strconv.Itoa(round%3)}); err != nil {
				t.Fatal(err)
			}
		}
		if round%2 == 0 {
			if err := mb.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		} else {
			uids, err := mb.Expunge(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range uids {
				expunged[seenUID[u]] = true
			}
		}
	}
	if _, err := mb.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	check()
	present := map[string]bool{}
	for _, m := range mb.Messages() {
		id := seenUID[m.UID]
		if present[id] {
			t.Errorf("%s twice", id)
		}
		present[id] = true
	}
	must(t, mb.Close(ctx))
	for i := range n {
		id := "d" + strconv.Itoa(i)
		if present[id] == expunged[id] {
			t.Errorf("%s: present=%v expunged=%v", id, present[id], expunged[id])
		}
	}
	// A fresh parse agrees.
	mb2, err := Open(ctx, path, Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer mb2.Close(ctx)
	if mb2.Len() != len(present) {
		t.Errorf("fresh parse: %d messages, want %d", mb2.Len(), len(present))
	}
	if mb2.UIDNext() <= maxUID {
		t.Errorf("UIDNEXT %d not above the highest UID seen %d", mb2.UIDNext(), maxUID)
	}
}
