// SPDX-License-Identifier: MIT

package queue

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSyncDirBatched: callers that arrive while a sync runs share the
// next one; none returns before a sync that started after its call
// finished; a failed sync fails exactly the callers it covered.
func TestSyncDirBatched(t *testing.T) {
	dir := t.TempDir()
	var calls atomic.Int64
	var mu sync.Mutex
	var syncStarts []time.Time
	// Each sync returns what the test sends it.
	release := make(chan error)
	syncFunc = func(string) error {
		calls.Add(1)
		mu.Lock()
		syncStarts = append(syncStarts, time.Now())
		mu.Unlock()
		return <-release
	}
	defer func() { syncFunc = syncDir }()

	// The first caller starts sync 1 and blocks in it.
	first := make(chan error, 1)
	go func() { first <- syncDirBatched(dir) }()
	for calls.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	// Ten more arrive during sync 1: they must wait for a sync of
	// their own, and share one.
	const n = 10
	called := make([]time.Time, n)
	results := make(chan error, n)
	for i := range n {
		called[i] = time.Now()
		go func() { results <- syncDirBatched(dir) }()
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-results:
		t.Fatalf("a caller returned (%v) while only the sync that started before it ran", err)
	default:
	}
	release <- nil
	if err := <-first; err != nil {
		t.Fatalf("first caller: %v", err)
	}
	for calls.Load() != 2 {
		time.Sleep(time.Millisecond)
	}
	release <- errors.New("injected")
	for range n {
		if err := <-results; err == nil {
			t.Error("a caller covered by the failed sync got no error")
		}
	}
	if c := calls.Load(); c != 2 {
		t.Errorf("%d syncs for 11 callers, want 2", c)
	}
	mu.Lock()
	second := syncStarts[1]
	mu.Unlock()
	for i, c := range called {
		if second.Before(c) {
			t.Errorf("caller %d: covered by a sync that started before its call", i)
		}
	}
	// A later caller is not failed by the old error.
	go func() { release <- nil }()
	if err := syncDirBatched(dir); err != nil {
		t.Errorf("after the failure: %v", err)
	}
}
