#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Benchmark: relaying, the real sendmail against sendmaild. Both run the
# cf of bench/testdata/bench.mc with SMART_HOST [127.0.0.33] (an address
# literal: no DNS) and the relay mailer's port set to a loopback sink,
# bench/smtpsink, which accepts and discards every message (no fsync).
# bench/smtpload sends N messages of 4 KiB (default 2000) over 10
# connections from 127.0.0.20 to friend@outside.example; outside.example
# is in relay-domains, so the client may relay. Each daemon queues every
# message durably before its 250, then relays it in the background.
#
# Printed: relayed messages/s (N / time from the first client connection
# to the N-th message at the sink) and CPU per message (the daemon and
# everything it forked, from /proc/<pid>/stat), medians of RUNS runs
# (default 3), and the ratios. The real sendmail runs as bench/smtp.sh
# describes (own mount, UTS and PID namespace, hosts files only).
#
# Usage: bench/relay.sh            (as root; needs sendmail-bin and m4)
#        N=500 RUNS=1 bench/relay.sh
set -euo pipefail
cd "$(dirname "$0")/.."

n=${N:-2000}
runs=${RUNS:-3}
conns=${CONNS:-10}
only=${ONLY:-both}
real=${REAL_SENDMAIL:-/usr/sbin/sendmail}
src=127.0.0.20
realip=127.0.0.31
oursip=127.0.0.32
sinkip=127.0.0.33
tck=$(getconf CLK_TCK)
export RELAYDOMAINS="outside.example
"

work=$(mktemp -d "${TMPDIR:-/var/tmp}/relay-bench.XXXXXX")
chmod 755 "$work"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/sendmaild" ./cmd/sendmaild
go build -o "$work/smtpload" ./bench/smtpload
go build -o "$work/smtpsink" ./bench/smtpsink

. bench/smtplib.sh

# run KIND RUN: prints "msgs_per_s cpu_ms_per_msg accept_per_s
# sink_connections".
run() {
	local kind=$1 d="$work/$1-$2" ip port sinkport
	if [ "$kind" = real ]; then ip=$realip; port=$((2800 + $2)); else ip=$oursip; port=$((2900 + $2)); fi
	sinkport=$((port + 200))
	SMARTDEFS="-DSMART=$sinkip -DSMARTPORT=$sinkport" setup "$d" "$ip" "$port"
	"$work/smtpsink" -addr "$sinkip:$sinkport" -n "$n" >"$d/sink" &
	local sink=$!
	pids+=("$sink")
	if [ "$kind" = real ]; then start_real "$d" "$port"; else start_ours "$d" "$port"; fi
	local c0 t0 c1
	c0=$(cputicks "$spid")
	t0=$(now)
	"$work/smtpload" -addr "$ip:$port" -src "$src" -conns "$conns" -n "$n" -size 4096 -rcpt friend@outside.example >"$d/load"
	wait "$sink"
	if [ "$kind" = real ]; then real_idle; fi
	c1=$(cputicks "$spid")
	if [ "$kind" = real ]; then stop_real; else stop_ours; fi
	awk -v n="$n" -v t0="$t0" -v t1="$(awk '{print $6}' "$d/sink")" -v c0="$c0" -v c1="$c1" -v tck="$tck" \
		-v acc="$(awk '{print $7}' "$d/load" | tr -d '(')" -v nc="$(awk '{print $8}' "$d/sink")" \
		'BEGIN{printf "%.2f %.3f %s %s\n", n/(t1-t0), (c1-c0)/tck*1000/n, acc, nc}'
	if [ -n "${KEEP:-}" ]; then cp -r "$d" "$KEEP/"; fi
	rm -rf "$d"
}

echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$work/real.txt"
: >"$work/ours.txt"
for r in $(seq "$runs"); do
	if [ "$only" != ours ]; then run real "$r" | tee -a "$work/real.txt" | sed "s/^/  sendmail  run $r: /" >&2; fi
	run ours "$r" | tee -a "$work/ours.txt" | sed "s/^/  sendmaild run $r: /" >&2
done
om=$(median 1 <"$work/ours.txt"); oc=$(median 2 <"$work/ours.txt"); oa=$(median 3 <"$work/ours.txt"); on=$(median 4 <"$work/ours.txt")
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared: compare runs taken at similar loads)"
printf 'relay of 4 KiB x %d, %d connections, median of %d runs:\n' "$n" "$conns" "$runs"
printf '  sendmaild: %8.1f msg/s relayed  %8.3f ms CPU/msg  (%s msg/s accepted, %s connections to the sink)\n' "$om" "$oc" "$oa" "$on"
if [ "$only" != ours ]; then
	rm_=$(median 1 <"$work/real.txt"); rc=$(median 2 <"$work/real.txt"); ra=$(median 3 <"$work/real.txt"); rn=$(median 4 <"$work/real.txt")
	printf '  sendmail:  %8.1f msg/s relayed  %8.3f ms CPU/msg  (%s msg/s accepted, %s connections to the sink)\n' "$rm_" "$rc" "$ra" "$rn"
	awk -v om="$om" -v rm="$rm_" -v oc="$oc" -v rc="$rc" \
		'BEGIN{printf "  ratio:     %.1fx messages/s, %.1fx less CPU per message\n", om/rm, rc/oc}'
fi
