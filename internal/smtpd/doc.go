// SPDX-License-Identifier: MIT

// Package smtpd is sendmaild's SMTP server: Sendmail 8.17's dialogue,
// replies and relay policy on top of github.com/emersion/go-smtp.
//
// What it does: one listener per DaemonPortOptions socket (modifiers a,
// E, s and O), the greeting built from SmtpGreetingMessage, EHLO with the
// extensions Sendmail offers, AUTH PLAIN and LOGIN, STARTTLS and SMTPS,
// strict CRLF in DATA, MaxRecipientsPerMessage, MaxMessageSize,
// MaxDaemonChildren, ConnectionRateThrottle and Timeout.command and
// Timeout.datablock; the policy of the stock sendmail.cf rulesets
// (check_relay, check_mail, check_rcpt with Rcpt_ok and Relay_ok, the
// access map through pkg/accessdb, class w and R, delay_checks,
// blocklist_recipients, relay_entire_domain, relay_hosts_only,
// relay_based_on_MX, promiscuous_relay, TRUST_AUTH_MECH); every reply
// line from the table in replies.go; log lines through internal/maillog.
//
// go-smtp v0.25.1 writes fixed texts for the greeting, EHLO, success
// replies and sequence errors. The server puts a front (front.go) between
// the socket and go-smtp that answers those commands with Sendmail's
// texts and hands go-smtp the rest; see the comment there.
//
// What it does not do: it does not execute sendmail.cf rulesets (the
// stock rulesets' behaviour is built in, and the FEATUREs are recognised
// from the cf's text), queue or deliver mail (a Spool takes the message;
// internal/queue implements it), or expand aliases (a Recipients
// implementation answers whether a local name exists). Cyrus SASL's
// DIGEST-MD5 and CRAM-MD5, ratecontrol/conncontrol, greet_pause, dnsbl and
// milters are not implemented.
package smtpd
