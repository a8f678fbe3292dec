#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/imap.sh: dovecotd's IMAP server against Dovecot's own imap binary
# (PREAUTH on stdio, a private -c config; never the system daemon) on the
# same generated mboxes of 1,000 and 10,000 messages: cold SELECT (no
# index), warm SELECT and FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE),
# timed at the client from command to tagged reply. Run as root it runs
# Dovecot's imap as nobody, which Dovecot requires.
#
#   bench/imap.sh [benchtime]     (default 5x)
set -eu
cd "$(dirname "$0")/.."
exec go test ./internal/imapd/ -run '^$' -bench 'BenchmarkIMAP' -benchtime "${1:-5x}"
