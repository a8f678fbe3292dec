// SPDX-License-Identifier: MIT

// Package queue keeps mail in a Sendmail 8.17 queue directory
// (QueueDirectory, /var/spool/mqueue): the df<qid> data file holding the
// body and the qf<qid> control file (version 8) holding the envelope and
// the header, written, locked and listed exactly as Debian's sendmail
// does, so that the real sendmail and mailsuite can share one queue:
// `sendmail -bp` lists our messages, `sendmail -q` delivers them, and we
// list and run the real one's.
//
// What it does:
//   - queue ids in sendmail's 14-character form (NewID);
//   - the durable two-phase write an SMTP server needs (Prepare, then
//     Pending.Write while DATA arrives, then Commit or Abort): body,
//     fsync, control file under tf<qid>, fsync, rename to qf<qid>, fsync
//     of the directory; Commit returning nil is the moment to say 250;
//   - per-message locking with flock(2) on the qf, as sendmail on Linux
//     locks it (Lock), and atomic rewrites of the control file that keep
//     the lock (Locked.Update), for recording an attempt before making it
//     and its outcome after;
//   - recovery on start (Recover): every queued message, in directory
//     batches with bounded memory; unreadable control files moved aside as
//     Qf<qid> and logged, tf files of crashed writers as Tf<qid>, never
//     anything deleted;
//   - the mailq listing (List), byte for byte what sendmail -bp prints;
//   - the qf format itself (ReadEnvelope, Envelope.WriteTo) and the split
//     of a message into the header kept in the qf and the body kept in
//     the df (PrepareOptions.SplitHeader, or ReadHeader for a reader).
//
// What it does not do: SMTP, address rewriting, deciding which headers
// to add (the SMTP server builds the Envelope), delivery, retry timing
// and bounces (the queue runner calls Lock, Update and Done), queue
// groups and qf/df subdirectories, and the "shuffle" and "random"
// QueueSortOrder values (listed unsorted).
//
// # mailq
//
// sendmail -bp and mailq print List's output and exit 0:
//
//	queue.List(os.Stdout, cfQueueDirectory, queue.ListOptions{
//		Verbose:   verbose, // -v
//		SortOrder: cfQueueSortOrder,
//		MinQueueAge: cfMinQueueAge,
//	})
//
// # How the SMTP server uses it
//
// At MAIL the server takes an id; at DATA it streams the body into a
// Pending and commits the envelope once the final dot arrived:
//
//	q, err := queue.Open("/var/spool/mqueue", queue.Options{})
//	...
//	id := q.NewID() // at MAIL, for the log lines of the transaction
//	p, err := q.Prepare(ctx, id, queue.PrepareOptions{Limit: maxSize, CRLF: true, SplitHeader: true})
//	if err != nil { ... 451 ... }
//	// Write the data as it arrives (dots unstuffed, CRLF as received):
//	// the header is kept back, the body goes to the df.
//	if _, err := io.Copy(p, data); err != nil {
//		p.Abort() // ErrTooBig: 552 5.3.4
//		...
//	}
//	hdr := p.Header()
//	env := &queue.Envelope{
//		Priority: queue.Priority(p.Size(), 0, 1), // Size: header and body, LF line ends
//		Flags:    "s",
//		Macros:   []queue.Macro{{Name: "r", Value: "ESMTP"}, {Name: "s", Value: helo}, {Name: "_", Value: "[" + ip + "]"}},
//		Sender:   "<a@hamap.local>",
//		Recipients: []queue.Recipient{
//			{Final: "RFC822; b@hamap.local", Flags: "PFD", Addr: "<b@hamap.local>"},
//		},
//		Headers: append([]queue.Header{{Cond: "P", Name: "Return-Path", Value: " <\x81g>"}, received}, hdr...),
//	}
//	if err := p.Commit(env); err != nil {
//		... 451 4.3.0, nothing was queued ...
//	}
//	// durable: "250 2.0.0 <id> Message accepted for delivery"
//
// A delivery attempt, by the queue runner:
//
//	l, err := q.Lock(id) // ErrLocked: sendmail or another runner has it
//	env := *l.Envelope()
//	env.Attempts++
//	env.LastAttempt = now.Unix()
//	l.Update(&env) // on disk before the attempt
//	... deliver, drop the delivered recipients from env.Recipients ...
//	if len(env.Recipients) == 0 {
//		l.Done()
//	} else {
//		env.Message = "Deferred: Connection refused by [127.0.0.1]"
//		env.Priority += queue.RetryFactor
//		l.Update(&env)
//		l.Unlock()
//	}
package queue
