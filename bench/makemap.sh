#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Benchmark: build a 1,000,000-line access map with the real Sendmail
# makemap and with ours (median wall time of 3 runs each, peak RSS), check
# that both maps list the same records, then run pkg/bdb's lookup benchmark
# for 1,000,000 random lookups in a 1,000,000-entry map.
#
# Usage: bench/makemap.sh [lines]   (MAILSUITE_BIN=dir uses dir/makemap)
set -euo pipefail
cd "$(dirname "$0")/.."

lines=${1:-1000000}
real=${REAL_MAKEMAP:-/usr/sbin/makemap}
[ -x "$real" ] || { echo "real makemap not found at $real (Debian package sendmail-bin)" >&2; exit 1; }

# Not under a world-writable /tmp or /var/tmp, which makemap warns about.
work=$(mktemp -d "$PWD/.makemap-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -n "${MAILSUITE_BIN:-}" ] && [ -x "$MAILSUITE_BIN/makemap" ]; then
	ours=$MAILSUITE_BIN/makemap
else
	go build -o "$work/makemap" ./cmd/makemap
	ours=$work/makemap
fi

# An access-style source: tagged keys (IPs, domains, addresses), the usual
# right-hand sides, a comment now and then. Seeded, so runs are comparable.
awk -v n="$lines" 'BEGIN {
	srand(42)
	split("OK RELAY REJECT DISCARD SKIP", rhs, " ")
	for (i = 0; i < n; i++) {
		if (i % 1000 == 0) print "# block " i
		t = i % 4
		if (t == 0)      key = sprintf("Connect:%d.%d.%d.%d", 10 + i % 200, int(i / 65536) % 256, int(i / 256) % 256, i % 256)
		else if (t == 1) key = sprintf("From:user%d@Host%d.Example.COM", i, int(rand() * 100000))
		else if (t == 2) key = sprintf("To:rcpt%d@dom%d.example.net", i, int(rand() * 100000))
		else             key = sprintf("host%d.sub%d.example.org", i, int(rand() * 1000))
		v = rhs[1 + int(rand() * 5)]
		if (rand() < 0.05) v = "ERROR:5.7.1:550 Access denied for " key
		print key "\t" v
	}
}' > "$work/access"
echo "source: $lines lines, $(wc -c < "$work/access") bytes"

# measure CMD...: prints "<seconds> <peak RSS KiB>" for one run with the
# source on stdin. Uses /usr/bin/time when present, else python3's wait4,
# else polls /proc/PID/status for VmHWM.
measure() {
	if [ -x /usr/bin/time ]; then
		local start end
		start=$(date +%s%N)
		/usr/bin/time -f '%M' -o "$work/time.out" "$@" < "$work/access" > /dev/null
		end=$(date +%s%N)
		echo "$(( (end - start) / 1000000 ))e-3 $(tail -1 "$work/time.out")"
	elif command -v python3 > /dev/null; then
		python3 - "$work/access" "$@" <<'PY'
import os, sys, time
src, argv = sys.argv[1], sys.argv[2:]
t = time.monotonic()
pid = os.fork()
if pid == 0:
    fd = os.open(src, os.O_RDONLY); os.dup2(fd, 0)
    nul = os.open(os.devnull, os.O_WRONLY); os.dup2(nul, 1)
    os.execv(argv[0], argv)
_, status, ru = os.wait4(pid, 0)
print("%.3f %d" % (time.monotonic() - t, ru.ru_maxrss))
PY
	else
		local start end pid hwm=0 h
		start=$(date +%s%N)
		"$@" < "$work/access" > /dev/null &
		pid=$!
		while kill -0 "$pid" 2> /dev/null; do
			h=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2> /dev/null || true)
			[ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
			sleep 0.02
		done
		wait "$pid" || true
		end=$(date +%s%N)
		echo "$(( (end - start) / 1000000 ))e-3 $hwm"
	fi
}

# bench NAME BIN: three builds, prints the median time and the largest RSS.
bench() {
	local name=$1 bin=$2 i times=() rss=0 out
	for i in 1 2 3; do
		rm -f "$work/$name.db"
		out=$(measure "$bin" -C /dev/null hash "$work/$name")
		times+=("$(awk '{printf "%.3f", $1}' <<< "$out")")
		r=$(awk '{print $2}' <<< "$out")
		[ "$r" -gt "$rss" ] && rss=$r
	done
	median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
	printf '%-8s median %6.3f s  (runs: %s)  peak RSS %d KiB  file %d bytes\n' \
		"$name" "$median" "${times[*]}" "$rss" "$(stat -c %s "$work/$name.db")"
	eval "${name}_median=$median"
}

bench real "$real"
bench ours "$ours"
awk -v r="$real_median" -v o="$ours_median" 'BEGIN { printf "ratio ours/real: %.2f\n", o / r }'

if cmp -s <("$real" -u hash "$work/real" | sort) <("$real" -u hash "$work/ours" | sort); then
	echo "records: identical (real makemap -u of both maps, sorted)"
else
	echo "records: DIFFER between the two maps" >&2
	exit 1
fi

if grep -qs 'func BenchmarkHashGet' pkg/bdb/*_test.go; then
	echo "lookups: pkg/bdb BenchmarkHashGet, 1,000,000 random lookups in a 1,000,000-entry map"
	go test -run '^$' -bench 'BenchmarkHashGet/1000000$' -benchtime 1000000x -count 1 ./pkg/bdb | grep -E '^(Benchmark|ok|FAIL)'
else
	echo "lookups: pkg/bdb has no BenchmarkHashGet; skipped"
fi
