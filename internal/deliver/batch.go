// SPDX-License-Identifier: MIT

package deliver

import (
	"context"
	"io"
	"sync"
	"time"
)

// Group commit of mailbox appends. Every delivery to a mailbox waits for
// the mailbox's lock and for an fsync of it; with many messages for one
// user arriving at once, taking the fcntl lock and the dotlock once per
// message serializes them on lock polls and a sync each. Instead the
// deliveries of this process to one mailbox form a queue: the delivery
// that finds no writer becomes the writer, takes the lock, writes every
// message queued by then, syncs once and reports each outcome; messages
// that arrive meanwhile form the next batch. No message is reported
// delivered before the sync that covers it returned.

// maxBatch bounds the messages written under one lock, so that readers
// such as Dovecot get the mailbox between batches.
const maxBatch = 256

// appendReq is one message waiting for its mailbox.
type appendReq struct {
	ctx    context.Context
	rcpt   Recipient
	sender string
	t      time.Time
	msg    io.Reader
	done   chan error
	lead   chan struct{} // closed when this request's goroutine is to write the next batch
}

// appendQueue is the queue of one mailbox path.
type appendQueue struct {
	mu      sync.Mutex
	pending []*appendReq
	busy    bool // a writer is draining the queue
}

var appendQueues sync.Map // mailbox path → *appendQueue

// batchHook, when set (tests), is told the size of every batch written.
var batchHook func(n int)

func mailboxQueue(path string) *appendQueue {
	if q, ok := appendQueues.Load(path); ok {
		return q.(*appendQueue)
	}
	q, _ := appendQueues.LoadOrStore(path, &appendQueue{})
	return q.(*appendQueue)
}

// enqueue adds r and reports whether the caller is to drain the queue.
func (q *appendQueue) enqueue(r *appendReq) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = append(q.pending, r)
	if q.busy {
		return false
	}
	q.busy = true
	return true
}

// take returns the next batch (the caller's own request first).
func (q *appendQueue) take() []*appendReq {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.pending), maxBatch)
	batch := q.pending[:n:n]
	q.pending = q.pending[n:]
	return batch
}

// handOff ends a writer's turn: the first request still waiting becomes
// the next writer, or the queue goes idle.
func (q *appendQueue) handOff() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		q.busy = false
		return
	}
	close(q.pending[0].lead)
}

// wait is the life of a request after enqueue: write one batch when it
// is this request's turn to lead (its own message is the batch's first),
// and return its outcome. A writer writes a single batch, so no caller
// waits for more than its own message and those queued with it.
func (s *Spool) wait(q *appendQueue, path string, r *appendReq, leader bool) error {
	if !leader {
		select {
		case err := <-r.done:
			return err
		case <-r.lead:
		}
	}
	batch := q.take()
	errs := s.appendBatch(path, batch)
	if batchHook != nil {
		batchHook(len(batch))
	}
	for i, b := range batch {
		b.done <- errs[i]
	}
	q.handOff()
	return <-r.done
}
