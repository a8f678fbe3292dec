#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Benchmark: mailq on a queue of 100,000 deferred messages written in the
# qf/df format by internal/queue. Times our listing (internal/queue.List)
# and the real `sendmail -bp` on the same directory (wall time of the best
# of 3 runs, peak RSS), and checks that both print the same bytes.
#
# The real sendmail runs as the tests run it: as root, in a private mount
# namespace whose resolv.conf and hosts point at loopback only.
#
# Usage: bench/mailq.sh [messages]
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-100000}
real=${REAL_SENDMAIL:-/usr/sbin/sendmail}

work=$(mktemp -d "${TMPDIR:-/tmp}/mailq-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -m 700 "$work/mqueue"

go test -c -o "$work/queue.test" ./internal/queue
echo "generating $n messages in $work/mqueue ..."
MAILQ_BENCH_GEN="$work/mqueue:$n" "$work/queue.test" -test.run '^TestBenchHelper$' >/dev/null

best() { # best of 3: prints "seconds maxrss_kib"
	local b="" m=""
	for _ in 1 2 3; do
		/usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>/dev/null
		read -r s k <"$work/time"
		if [ -z "$b" ] || awk -v a="$s" -v b="$b" 'BEGIN{exit !(a<b)}'; then b=$s; fi
		if [ -z "$m" ] || [ "$k" -gt "$m" ]; then m=$k; fi
	done
	echo "$b $m"
}

read -r ours_s ours_k < <(best env MAILQ_BENCH_LIST="$work/mqueue" "$work/queue.test" -test.run '^TestBenchHelper$')
# The test binary prints "PASS" after the listing; keep the listing only.
sed '/^PASS$/d' "$work/out" >"$work/ours.txt"
printf 'ours:     %6.2f s  %7d KiB peak RSS  (%s lines)\n' "$ours_s" "$ours_k" "$(wc -l <"$work/ours.txt")"

if [ "$(id -u)" = 0 ] && [ -x "$real" ] && command -v unshare >/dev/null; then
	printf 'nameserver 127.0.0.1\n' >"$work/resolv.conf"
	printf '127.0.0.13 mail.hamap.local mail %s\n127.0.0.1 localhost\n' "$(hostname)" >"$work/hosts"
	printf 'hosts\tfiles\naliases\tfiles\n' >"$work/service.switch"
	sed -e "s|@QUEUE@|$work/mqueue|" -e "s|@SWITCH@|$work/service.switch|" -e 's|@PORT@|2599|' \
		internal/queue/testdata/sendmail.cf >"$work/sendmail.cf"
	read -r real_s real_k < <(best unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && exec "$3" -C "$4" -bp' sh \
		"$work/resolv.conf" "$work/hosts" "$real" "$work/sendmail.cf")
	cp "$work/out" "$work/real.txt"
	printf 'sendmail: %6.2f s  %7d KiB peak RSS\n' "$real_s" "$real_k"
	if cmp -s "$work/ours.txt" "$work/real.txt"; then
		echo "listings identical"
	else
		echo "LISTINGS DIFFER:"; diff "$work/real.txt" "$work/ours.txt" | head -20
		exit 1
	fi
else
	echo "real sendmail not run (needs root, unshare and $real)"
fi
