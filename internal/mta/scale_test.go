// SPDX-License-Identifier: MIT

package mta

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"mailsuite/internal/maillog"
	"mailsuite/internal/queue"
)

// TestQueueRunScale measures one queue run over a large deferred queue
// whose every message goes to a host that refuses connections (or, with
// MAILSUITE_QUEUE_SINK=1, to a sink that accepts them): wall time, peak
// Go heap and peak RSS. It runs only when MAILSUITE_QUEUE_SCALE names
// the number of messages (10000, 100000).
func TestQueueRunScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MAILSUITE_QUEUE_SCALE"))
	if n <= 0 {
		t.Skip("set MAILSUITE_QUEUE_SCALE=<messages> to measure a queue run")
	}
	f := newFixture(t, nil)
	// The fixture's log is kept in memory; this run's would grow with
	// the queue and hide what the run itself holds.
	f.logger = maillog.New(io.Discard, maillog.Options{Ident: "sendmail"})
	tn := newTestNet(t)
	tn.dns.AddMX("other.test", "mx.other.test", 10)
	tn.dns.AddA("mx.other.test", "127.0.0.47")
	m := newRemoteMTA(t, f, tn, nil)
	var sk *sink
	if os.Getenv("MAILSUITE_QUEUE_SINK") == "1" {
		sk, _ = tn.sinkOn(t, "127.0.0.47")
	}
	dir := filepath.Join(f.work, "mqueue")
	created := time.Now().Add(-time.Hour).Unix()
	for i := range n {
		id := fmt.Sprintf("6AR0%04d%06d", i/1000000, i%1000000)
		env := &queue.Envelope{Created: created, Priority: 30100, Sender: "<a@hamap.local>", Macros: []queue.Macro{{Name: "r", Value: "ESMTP"}},
			Recipients: []queue.Recipient{{Flags: "PFD", Final: "RFC822; x@other.test", Addr: fmt.Sprintf("<x%d@other.test>", i)}},
			Headers:    []queue.Header{{Name: "Subject", Value: " scale"}}}
		if err := os.WriteFile(filepath.Join(dir, "df"+id), []byte("body\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "qf"+id), env.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	st, err := m.RunQueue(context.Background(), RunOptions{})
	elapsed := time.Since(start)
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	t.Logf("%d deferred messages: one run tried %d in %v (%.0f/s), peak heap %.1f MiB, peak RSS %.1f MiB, connections to 127.0.0.47 %d",
		n, st.Tried, elapsed.Round(time.Millisecond), float64(st.Tried)/elapsed.Seconds(), float64(peak.Load())/(1<<20), float64(ru.Maxrss)/1024, tn.dials["127.0.0.47"])
	if sk != nil {
		t.Logf("the sink accepted %d (%.0f/s)", len(sk.got()), float64(len(sk.got()))/elapsed.Seconds())
	}
	if st.Tried != n {
		t.Errorf("tried %d of %d", st.Tried, n)
	}
}
