// SPDX-License-Identifier: MIT

package mta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"mailsuite/internal/maillog"
	"mailsuite/internal/queue"
)

// Selector is one of sendmail's queue-run limits: -qR<substr> (a
// recipient contains it), -qS<substr> (the sender), -qI<substr> (the
// queue id), and with Not (-q!R…) the opposite. Selectors of one kind
// are alternatives; those of different kinds must all hold.
type Selector struct {
	Kind byte // 'R', 'S' or 'I'
	Sub  string
	Not  bool
}

// ParseSelector reads the part of a -q flag after "-q": "Rexample.org",
// "!Sa@b", "I6AR1".
func ParseSelector(s string) (Selector, error) {
	var sel Selector
	if strings.HasPrefix(s, "!") {
		sel.Not, s = true, s[1:]
	}
	if s == "" || strings.IndexByte("RSI", s[0]) < 0 {
		return sel, fmt.Errorf("invalid queue selector %q", s)
	}
	sel.Kind, sel.Sub = s[0], s[1:]
	if sel.Sub == "" {
		return sel, fmt.Errorf("-q%c needs a value", sel.Kind)
	}
	return sel, nil
}

// RunOptions tune a queue run.
type RunOptions struct {
	// Select limits the run (-qR, -qS, -qI).
	Select []Selector
	// Verbose receives sendmail -v's output: the SMTP dialogues and
	// each recipient's status. A verbose run delivers one message at a
	// time.
	Verbose io.Writer
	// IgnoreMinAge runs messages tried less than MinQueueAge ago too.
	IgnoreMinAge bool
}

func (o *RunOptions) match(id string, env *queue.Envelope) bool {
	for _, kind := range []byte{'R', 'S', 'I'} {
		any, ok := false, false
		for _, s := range o.Select {
			if s.Kind != kind {
				continue
			}
			any = true
			var hit bool
			switch kind {
			case 'I':
				hit = strings.Contains(id, s.Sub)
			case 'S':
				hit = containsFold(env.Sender, s.Sub)
			case 'R':
				for _, r := range env.Recipients {
					if containsFold(r.Addr, s.Sub) {
						hit = true
						break
					}
				}
			}
			if hit != s.Not {
				ok = true
			}
		}
		if any && !ok {
			return false
		}
	}
	return true
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// runSlice is how many queued messages a run holds at once: it reads
// that many, sorts them by priority (QueueSortOrder=priority), delivers
// them and reads on, so memory stays bounded whatever the queue's size.
const runSlice = 1000

// RunStats counts what a queue run did.
type RunStats struct {
	// Tried is the number of messages the run attempted.
	Tried int
	// Skipped counts messages not selected or younger than MinQueueAge.
	Skipped int
	// Busy counts messages another process (or runner) held.
	Busy int
}

// RunQueue is one queue run (sendmail -q, a -q<interval> tick, ETRN):
// every queued message not locked by another process and matching
// o.Select gets one delivery attempt, at most MaxQueueChildren at a time
// (each message is locked while it is tried, so none is ever delivered
// twice at once, by us or by the real sendmail). Messages tried less
// than MinQueueAge ago wait for a later run. Unreadable qf files are
// moved aside as Qf files and logged.
func (m *MTA) RunQueue(ctx context.Context, o RunOptions) (RunStats, error) {
	var st RunStats
	var mu sync.Mutex
	var wg sync.WaitGroup
	limit := m.maxChildren
	if o.Verbose != nil {
		limit = 1
	}
	sem := make(chan struct{}, limit)
	down := &sync.Map{}
	conns := m.conns
	m.busy()
	defer m.idle()
	if o.Verbose != nil {
		// A verbose run has its cache to itself, flushed at the end
		// with "Closing connection to ..." as sendmail's run ends.
		conns = m.newConnCache()
		defer conns.Close()
	}
	now := m.now()
	due := func(id string, env *queue.Envelope) bool {
		return o.match(id, env) && (o.IgnoreMinAge || m.cf.MinQueueAge <= 0 || env.LastAttempt <= 0 ||
			now.Sub(time.Unix(env.LastAttempt, 0)) >= m.cf.MinQueueAge)
	}
	seq, of := 0, 0
	if o.Verbose != nil {
		// sendmail -v numbers the messages of its run ("sequence 1
		// of 2"): a first pass counts them.
		if _, err := m.q.Recover(ctx, func(id string, env *queue.Envelope) error {
			if due(id, env) {
				of++
			}
			return nil
		}); err != nil {
			return st, err
		}
	}
	type item struct {
		id  string
		pri int64
	}
	batch := make([]item, 0, runSlice)
	flush := func() error {
		sort.SliceStable(batch, func(i, j int) bool { return batch[i].pri < batch[j].pri })
		for _, it := range batch {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			wg.Add(1)
			ao := attemptOptions{retry: true, verbose: o.Verbose, down: down, conns: conns}
			if o.Verbose != nil && seq < of {
				seq++
				ao.seq, ao.of = seq, of
			}
			go func(id string) {
				defer wg.Done()
				defer func() { <-sem }()
				err := m.attempt(ctx, id, ao)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					st.Tried++
				case errors.Is(err, queue.ErrLocked):
					st.Busy++
				case errors.Is(err, fs.ErrNotExist):
				default:
					st.Tried++
					m.log.Logf(maillog.MailErr, "%s: SYSERR: delivery: %v", id, err)
				}
			}(it.id)
		}
		batch = batch[:0]
		return nil
	}
	_, err := m.q.Recover(ctx, func(id string, env *queue.Envelope) error {
		if !due(id, env) {
			st.Skipped++
			return nil
		}
		batch = append(batch, item{id, env.Priority})
		if len(batch) == runSlice {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	wg.Wait()
	return st, err
}

// ETRN is the SMTP server's ETRN hook: a queue run for the recipients
// matching match (sendmail's -qR), started in the background.
func (m *MTA) ETRN(_ context.Context, match string) error {
	o := RunOptions{}
	if match != "" {
		o.Select = []Selector{{Kind: 'R', Sub: match}}
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if _, err := m.RunQueue(context.Background(), o); err != nil {
			m.log.Logf(maillog.MailErr, "SYSERR: ETRN queue run: %v", err)
		}
	}()
	return nil
}
