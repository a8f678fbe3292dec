#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Wall time of mc2cf against GNU m4 + sendmail-cf on Debian's sendmail.mc:
# the median of 5 runs each, and their ratio.
#
#   bench/mc2cf.sh [file.mc]     (default: Debian's stock sendmail.mc)
set -eu

MC=${1:-/usr/share/sendmail/cf/debian/sendmail.mc}
RUNS=5
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v m4 >/dev/null || { echo "m4 not installed" >&2; exit 1; }
[ -r "$MC" ] || { echo "$MC not readable (install sendmail-cf)" >&2; exit 1; }
(cd "$root" && go build -o "$tmp/mc2cf" ./cmd/mc2cf)

now_ns() { date +%s%N; }

# median_ns cmd...: runs the command RUNS times, prints the median in ns.
median_ns() {
	i=0
	: > "$tmp/times"
	while [ $i -lt $RUNS ]; do
		t0=$(now_ns)
		"$@" > "$tmp/out.cf" 2> /dev/null
		t1=$(now_ns)
		echo $((t1 - t0)) >> "$tmp/times"
		i=$((i + 1))
	done
	sort -n "$tmp/times" | sed -n "$(( (RUNS + 1) / 2 ))p"
}

# Plain m4 is what the runbook runs; cfhead.m4 then also runs
# sh/makeinfo.sh for the "built by" comment, which -D_NO_MAKEINFO_ skips.
m4_ns=$(median_ns m4 "$MC")
m4q_ns=$(median_ns m4 -D_NO_MAKEINFO_ "$MC")
mc_ns=$(median_ns "$tmp/mc2cf" "$MC")

awk -v m="$m4_ns" -v q="$m4q_ns" -v g="$mc_ns" -v f="$MC" 'BEGIN {
	printf "input: %s (median of '"$RUNS"' runs)\n", f
	printf "m4 + sendmail-cf:                  %8.2f ms\n", m / 1e6
	printf "m4 -D_NO_MAKEINFO_ + sendmail-cf:  %8.2f ms\n", q / 1e6
	printf "mc2cf:                             %8.2f ms\n", g / 1e6
	printf "ratio m4/mc2cf:                    %8.2f\n", m / g
	printf "ratio m4 -D_NO_MAKEINFO_/mc2cf:    %8.2f\n", q / g
}'
