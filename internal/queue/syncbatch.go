// SPDX-License-Identifier: MIT

package queue

import (
	"sync"
)

// Group commit of directory syncs. Every accepted message, every attempt
// recorded and every message done ends with an fsync of the queue
// directory, which makes its renames and removals durable. When many
// transactions run at once, one fsync of the directory started after all
// of their changes covers them all: a caller needs a sync that *started*
// after its own change, not one of its own. syncDirBatched gives each
// caller exactly that, running at most one fsync of a directory at a
// time and letting every caller that arrived during one share the next.
// No caller returns before a sync covering its change has finished, and
// a failed sync fails every caller it was meant to cover.

// dirSync is the state of one directory's syncs.
type dirSync struct {
	mu       sync.Mutex
	cond     *sync.Cond
	running  bool
	started  uint64 // syncs started
	finished uint64 // syncs finished (they run one at a time, in order)
	failed   uint64 // number of the last sync that failed, 0 for none
	err      error  // its error
}

var dirSyncs sync.Map // directory path → *dirSync

// syncFunc is the directory sync; tests replace it.
var syncFunc = syncDir

// syncDirBatched makes the entries of dir as they are now durable,
// sharing the fsync with concurrent callers.
func syncDirBatched(dir string) error {
	v, ok := dirSyncs.Load(dir)
	if !ok {
		d := &dirSync{}
		d.cond = sync.NewCond(&d.mu)
		v, _ = dirSyncs.LoadOrStore(dir, d)
	}
	d := v.(*dirSync)
	d.mu.Lock()
	defer d.mu.Unlock()
	// The sync that is running (if any) may have started before the
	// caller's change: the caller needs the next one.
	target := d.started + 1
	for d.finished < target {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		d.started++
		n := d.started
		d.mu.Unlock()
		err := syncFunc(dir)
		d.mu.Lock()
		d.running = false
		d.finished = n
		if err != nil {
			d.failed, d.err = n, err
		}
		d.cond.Broadcast()
	}
	if d.failed >= target {
		return d.err
	}
	return nil
}
