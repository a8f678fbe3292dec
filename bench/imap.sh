#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/imap.sh: real Dovecot 2.3 (its full daemon: master, imap-login,
# auth and imap processes, from a private base_dir and config on
# 127.0.0.61, started and stopped by PID, never the system service)
# against dovecotd (127.0.0.62; as root with per-user workers on
# 127.0.0.63 too when dovecotd has privilege separation), with the same
# passwd-file passdb ({SHA512-CRYPT}), on the same generated mboxes of
# 1,000 / 10,000 / 100,000 messages of about 13 KB:
#   - cold SELECT (no index, the mbox evicted from the page cache), against
#     `dd iflag=direct` of the largest mbox (target: at most 2x);
#   - warm SELECT, FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE), FETCH 1:*
#     BODY.PEEK[] (every body once, MB/s);
#   - sessions/s: 20 concurrent loops of LOGIN, SELECT INBOX, FETCH 1:*
#     (FLAGS UID), LOGOUT on the 1,000-message mailbox;
#   - PSS (from /proc/<pid>/smaps_rollup, summed over all the server's
#     processes) with 1,000 IDLE connections, per connection.
# Medians of 3 runs, with the server's CPU time beside each wall time and
# the ratios Dovecot/dovecotd. Needs root (Dovecot's master).
#
#   bench/imap.sh            full run (100k messages: about 4 GB of disk)
#   bench/imap.sh quick      1,000 messages, 50 IDLE connections, 2 s of
#                            sessions: under a minute
#   bench/imap.sh -- ARGS    pass ARGS to the driver (bench/imapbench -h)
#
# MODES=user,root forces the dovecotd modes measured.
set -eu
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/imap-bench.XXXXXX")
chmod 755 "$work" # dovecotd runs as nobody from here
trap 'rm -rf "$work"' EXIT
go build -o "$work/dovecotd" ./cmd/dovecotd
go build -o "$work/imapbench" ./bench/imapbench

modes=${MODES:-user}
if [ -z "${MODES:-}" ] && [ -d internal/privsep ]; then modes=user,root; fi

case "${1:-}" in
quick) set -- -sizes 1000 -runs 3 -idle 50 -sessions-for 2s -settle 1s ;;
--) shift ;;
"") ;;
*) echo "usage: bench/imap.sh [quick | -- driver-args]" >&2; exit 2 ;;
esac
"$work/imapbench" -dovecotd "$work/dovecotd" -modes "$modes" "$@"
