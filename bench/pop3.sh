#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Benchmark: a POP3 client downloading a whole mailbox (LIST, UIDL, then
# RETR of every message, QUIT) from dovecotd's POP3 server (internal/pop3d,
# over loopback TCP with USER/PASS) and from real Dovecot's
# /usr/lib/dovecot/pop3 (preauthenticated on stdio, its own temporary
# configuration and index), on the same generated mbox of 1,000 and 10,000
# messages of about 13 KB. One untimed session first writes \Seen and
# builds the indexes, so the figures are for warm mailboxes. Prints
# messages/s and MB/s (of POP3 output) per server.
#
# Usage: bench/pop3.sh [sessions per size, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
go test ./internal/pop3d -run '^$' -bench 'RetrieveAll' -benchtime "${runs}x" -count 1 |
	awk '/^Benchmark/ { printf "%-40s %10s msgs/s %8s MB/s\n", $1, $(NF-1), $(NF-3) } !/^Benchmark/ { print }'
