// SPDX-License-Identifier: MIT

package imapd

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mailsuite/pkg/mbox"
)

// raceDuration is how long TestConcurrentDeliveryAndSessions races:
// MAILSUITE_RACE_DURATION (a Go duration, "1m" for issue 6's minute), else
// a few seconds so that make test stays quick.
func raceDuration(t *testing.T) time.Duration {
	t.Helper()
	if s := os.Getenv("MAILSUITE_RACE_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("MAILSUITE_RACE_DURATION: %v", err)
		}
		return d
	}
	return 5 * time.Second
}

// uidBook records every UID any party was told for a message (APPENDUID,
// Append's return, FETCH UID) and fails the test when one UID is given to
// two messages or one message gets two UIDs.
type uidBook struct {
	t     *testing.T
	mu    sync.Mutex
	subj  map[uint32]string
	uid   map[string]uint32
	maxID uint32
}

func (b *uidBook) see(uid uint32, subject, who string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.subj[uid]; ok && s != subject {
		b.t.Errorf("%s: UID %d is %s, but was %s before (UID reused)", who, uid, subject, s)
	}
	if u, ok := b.uid[subject]; ok && u != uid {
		b.t.Errorf("%s: %s has UID %d, but had %d before", who, subject, uid, u)
	}
	b.subj[uid], b.uid[subject] = subject, uid
	b.maxID = max(b.maxID, uid)
}

var (
	raceSubjRE      = regexp.MustCompile(`Subject: (\S+)`)
	raceUIDRE       = regexp.MustCompile(`UID (\d+)`)
	raceAppendUIDRE = regexp.MustCompile(`\[APPENDUID \d+ (\d+)\]`)
)

// TestConcurrentDeliveryAndSessions races local deliveries (pkg/mbox
// Append with Debian's locks through descriptors of their own, as a
// delivery process does) against two IMAP sessions doing APPEND, FETCH,
// STORE of flags and keywords, and UID EXPUNGE on the same INBOX, for
// raceDuration. Throughout, a UID never names two messages and UIDs one
// session is given by APPENDUID grow; afterwards the file parses, every
// message delivered or appended and not expunged is there exactly once,
// every expunged one is gone, UIDs in the file strictly increase and
// UIDNEXT is above every UID handed out.
func TestConcurrentDeliveryAndSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	e := newEnv(t, "127.0.0.1", nil)
	deadline := time.Now().Add(raceDuration(t))
	book := &uidBook{t: t, subj: map[uint32]string{}, uid: map[string]uint32{}}
	var mu sync.Mutex
	made := map[string]bool{}     // delivered or appended (OK received)
	expunged := map[string]bool{} // removed by a UID EXPUNGE that answered OK
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the delivery agent
		defer wg.Done()
		ctx := context.Background()
		for i := 0; time.Now().Before(deadline); i++ {
			subj := "deliv-" + strconv.Itoa(i)
			mb, err := mbox.Open(ctx, e.spool, mbox.Options{})
			if err != nil {
				t.Errorf("delivery: %v", err)
				return
			}
			uid, err := mb.Append(ctx, strings.NewReader("Subject: "+subj+"\n\nbody "+subj+"\n"), mbox.AppendOptions{Sender: "d@x"})
			if cerr := mb.Close(ctx); err == nil {
				err = cerr
			}
			if err != nil {
				t.Errorf("delivery %s: %v", subj, err)
				return
			}
			// Append's UID is its own view's; sessions see the same one.
			book.see(uid, subj, "delivery")
			mu.Lock()
			made[subj] = true
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	rounds := make([]int, 2)
	for s := 0; s < 2; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := dial(t, e.addr, "")
			ok := func(c string) ([]string, string, bool) {
				lines, st := cl.cmd(c)
				if !strings.HasPrefix(st, "OK") {
					t.Errorf("session %d: %s: %s (%q)", s, c, st, lines)
					return lines, st, false
				}
				return lines, st, true
			}
			if _, _, good := ok("LOGIN b " + passB); !good {
				return
			}
			if _, _, good := ok("SELECT INBOX"); !good {
				return
			}
			var lastAppend uint32
			for i := 0; time.Now().Before(deadline); i++ {
				rounds[s]++
				subj := fmt.Sprintf("app-%d-%d", s, i)
				msg := "Subject: " + subj + "\r\n\r\nx\r\n"
				_, st, good := ok(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg))
				if !good {
					return
				}
				m := raceAppendUIDRE.FindStringSubmatch(st)
				if m == nil {
					t.Errorf("session %d: APPEND: no APPENDUID in %q", s, st)
					return
				}
				u, _ := strconv.ParseUint(m[1], 10, 32)
				if uint32(u) <= lastAppend {
					t.Errorf("session %d: APPENDUID %d after %d", s, u, lastAppend)
				}
				lastAppend = uint32(u)
				book.see(uint32(u), subj, fmt.Sprintf("session %d APPENDUID", s))
				mu.Lock()
				made[subj] = true
				mu.Unlock()

				lines, _, good := ok("FETCH 1:3 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
				if !good {
					return
				}
				var firstUID uint32
				var firstSubj string
				for _, l := range lines {
					if !strings.Contains(l, "BODY[HEADER.FIELDS") {
						continue // another session's flag update
					}
					um, sm := raceUIDRE.FindStringSubmatch(l), raceSubjRE.FindStringSubmatch(l)
					if um == nil || sm == nil {
						t.Errorf("session %d: FETCH line %q", s, l)
						continue
					}
					u, _ := strconv.ParseUint(um[1], 10, 32)
					book.see(uint32(u), sm[1], fmt.Sprintf("session %d FETCH", s))
					if firstUID == 0 {
						firstUID, firstSubj = uint32(u), sm[1]
					}
				}
				switch {
				case i%3 == 2 && firstUID != 0:
					// Expunge the oldest message; whichever session's
					// expunge removes it, it is gone afterwards.
					if _, _, good := ok(fmt.Sprintf("UID STORE %d +FLAGS.SILENT (\\Deleted)", firstUID)); !good {
						return
					}
					if _, _, good := ok(fmt.Sprintf("UID EXPUNGE %d", firstUID)); !good {
						return
					}
					mu.Lock()
					expunged[firstSubj] = true
					mu.Unlock()
				case i%2 == 0:
					if _, _, good := ok("STORE 1:5 +FLAGS.SILENT (\\Seen $Label" + strconv.Itoa(s) + ")"); !good {
						return
					}
				default:
					if _, _, good := ok("STORE 2:4 -FLAGS.SILENT ($Label0 $Label1)"); !good {
						return
					}
				}
				if _, _, good := ok("NOOP"); !good {
					return
				}
			}
			cl.cmd("LOGOUT")
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ctx := context.Background()
	mb, err := mbox.Open(ctx, e.spool, mbox.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("mbox does not parse: %v", err)
	}
	defer mb.Close(ctx)
	seen := map[string]int{}
	var last uint32
	for _, m := range mb.Messages() {
		if m.UID <= last {
			t.Errorf("file: UID %d after %d", m.UID, last)
		}
		last = m.UID
		r, err := mb.Reader(m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := messageBytes(r)
		if err != nil {
			t.Fatal(err)
		}
		sm := raceSubjRE.FindSubmatch(b)
		if sm == nil {
			t.Errorf("file: UID %d has no Subject: %q", m.UID, b)
			continue
		}
		seen[string(sm[1])]++
		book.see(m.UID, string(sm[1]), "file")
	}
	if mb.UIDNext() <= book.maxID {
		t.Errorf("UIDNEXT %d, but UID %d was handed out", mb.UIDNext(), book.maxID)
	}
	for subj := range made {
		switch n := seen[subj]; {
		case expunged[subj] && n != 0:
			t.Errorf("%s expunged but present %d times", subj, n)
		case !expunged[subj] && n != 1:
			t.Errorf("%s present %d times, want 1", subj, n)
		}
	}
	for subj := range seen {
		if !made[subj] && subj != "seed" { // msgAtoB, there from the start
			t.Errorf("%s in the file, never delivered or appended", subj)
		}
	}
	t.Logf("%d delivered or appended (%d and %d session rounds), %d expunged, %d left, UIDNEXT %d",
		len(made), rounds[0], rounds[1], len(expunged), mb.Len(), mb.UIDNext())
}
