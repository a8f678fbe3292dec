// SPDX-License-Identifier: MIT

// Package deliver is sendmaild's local courier: it hands a message to a
// local user the way Sendmail 8.17 does through the cf's Mlocal mailer.
//
// Three pieces, used together by the queue:
//
//   - Envelope and NewMessage make the headers Sendmail adds, byte for
//     byte as the stock cf's H lines expand: Return-Path (mailer flag P),
//     Received in its SMTP and command-line forms (with "for <rcpt>" when
//     there is exactly one recipient), and Date, From and Message-Id when
//     the message lacks them (flags D, F, M). The message reaches the
//     mailer with LF line ends and no From_ line, as in Sendmail.
//   - Program runs the Mlocal P= program with A= expanded ($u, $h, $f,
//     $g, ${name}; flag f inserts "-f <sender>" unless OmitSenderFlag, set
//     for a command-line submission without -f) and the message on stdin,
//     and turns its exit status into a Status as Sendmail does: 0 Sent,
//     75 "Deferred: local mailer (P) exited with EX_TEMPFAIL", other
//     sysexits codes Sendmail's texts ("Service unavailable", ...), with
//     the log's dsn=, the bounce's DSN Status (Report) and its transcript
//     line (Transcript).
//   - Spool is the built-in delivery agent, used when UseBuiltIn says so
//     (P= names mail.local, or the program is missing): it appends to
//     <spool>/<user> the bytes procmail -Y writes (From_ line
//     "From <sender>  <asctime>", ">From " quoting, a closing empty line),
//     under Debian's lock order (fcntl, then <mbox>.lock, stale locks
//     broken as Dovecot does, via pkg/mbox), fsyncs, truncates back to
//     the old size on any failure, creates a missing mailbox owned by the
//     user, group mail, mode 0660, and refuses symbolic links, hard-linked
//     files and files owned by someone else.
//
// A typical local delivery, for a queue runner:
//
//	env := &deliver.Envelope{QID: qid, Sender: "a@hamap.local", Proto: "ESMTP", ...}
//	msg, err := deliver.NewMessage(env, mailer.Flags, df)
//	var st deliver.Status
//	if deliver.UseBuiltIn(mailer) {
//		st = spool.Deliver(ctx, deliver.Recipient{Name: "b", UID: 1024, GID: 1024}, env.Sender, msg)
//	} else {
//		st = (&deliver.Program{Mailer: mailer, Sender: env.Sender, User: "b"}).Run(ctx, msg)
//	}
//	// st.Stat and st.DSN go to the log line "stat=Sent", "dsn=2.0.0".
//
// Headers, argv and statuses are checked against the real sendmail with a
// probe as its Mlocal (command line, -t, -bs), the mbox bytes against
// the real procmail and the anchor's /var/mail/b.
//
// The package does not choose recipients (see internal/aliases), does not
// log, does not drop privileges itself (Program.SysProcAttr and running
// Spool in a helper with the user's credentials are the caller's job) and
// does not deliver to remote hosts or to |program and /file alias targets.
package deliver
