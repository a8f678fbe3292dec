// SPDX-License-Identifier: MIT

package queue

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// qidChars are the digits of sendmail's queue ids (QueueIdChars in
// queue.c): base 60 for every field.
const qidChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"

// seqPerSecond is how many ids one process can make per second
// (QIC_LEN_SQR): the sequence takes two base-60 digits.
const seqPerSecond = 60 * 60

// idGen makes queue ids the way sendmail's assign_queueid does: the UTC
// time of a base second (year%60, month, day, hour, minute, second, one
// base-60 digit each), a two-digit sequence number that starts at a
// random offset, and the process id as six decimal digits. Time and pid
// make ids unique across processes, the sequence within one.
//
// Unlike sendmail, which keeps its first base second until the sequence
// wraps (its processes are short-lived), a long-running process moves to
// the current second whenever it changes, so ids keep telling when the
// message came in. When one second's 3,600 ids are used up it waits for
// the next second, as sendmail does.
type idGen struct {
	mu     sync.Mutex
	now    func() time.Time
	sleep  func(time.Duration)
	pid    int
	base   int64 // Unix second of the current base
	used   int   // ids made in base
	offset int   // random start of the sequence
}

// ids is the process-wide generator: two queues in one process share the
// pid, so they must share the sequence too.
var ids = &idGen{now: time.Now, sleep: time.Sleep}

// next returns a new queue id.
func (g *idGen) next() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	pid := os.Getpid()
	if g.pid != pid || g.base == 0 {
		g.offset = rand.IntN(seqPerSecond)
	}
	for {
		now := g.now().Unix()
		if now != g.base || g.pid != pid {
			g.base, g.used, g.pid = now, 0, pid
		}
		if g.used < seqPerSecond {
			break
		}
		// Every id of this second is taken: wait for the next one.
		g.sleep(time.Until(time.Unix(now+1, 0)) + time.Millisecond)
	}
	seq := (g.used + g.offset) % seqPerSecond
	g.used++
	return formatID(time.Unix(g.base, 0), seq, g.pid)
}

// formatID lays out a queue id: "6AR3Ai5N002544" is 2026 (126%60 = 6),
// November (A = 10, months count from 0), the 27th (R), 03:10:44 (3, A,
// i), sequence 5N and pid 2544.
func formatID(t time.Time, seq, pid int) string {
	t = t.UTC()
	b := []byte{
		qidChars[(t.Year()-1900)%60],
		qidChars[int(t.Month())-1],
		qidChars[t.Day()],
		qidChars[t.Hour()],
		qidChars[t.Minute()%60],
		qidChars[t.Second()%60],
		qidChars[seq/60],
		qidChars[seq%60],
	}
	return fmt.Sprintf("%s%06d", b, pid)
}

// validID reports whether id can name queue files: sendmail's ids are
// letters and digits (14 of them, more when the pid has more than six
// digits), and nothing in an id may reach outside the queue directory.
func validID(id string) bool {
	if len(id) < 8 || len(id) > 40 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
