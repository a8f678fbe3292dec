#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Benchmark: SMTP acceptance and local delivery, the real sendmail against
# sendmaild, on the same machine, the same cf (bench/testdata/bench.mc)
# and the same messages: N messages of 4 KiB (default 2000) and NBIG
# messages of 1 MiB (default 200), sent by bench/smtpload over 10
# connections from 127.0.0.20 to one local user, b@hamap.local.
#
#   real sendmail  8.17, FEATURE(local_lmtp): mail.local over LMTP writes
#                  the mailbox (fsync), SuperSafe=true queue files; it
#                  runs as root in its own mount, UTS and PID namespace
#                  (hostname mail.hamap.local, a private passwd, hosts and
#                  a loopback resolv.conf, a temporary directory mounted
#                  on /var/mail), as PID 1 there, so it reaps every
#                  process it forks and its cutime counts them all.
#   sendmaild      bin/sendmaild -bd with the built-in delivery agent
#                  (P= names mail.local), alternate passwd and spool,
#                  MAILSUITE_RESOLV_CONF naming a loopback resolver.
#
# Both fsync every message before its 250 and the mailbox after each
# delivery. A run ends when the mailbox holds all N messages. Printed per
# size: delivered messages/s (N / time from the first connection to the
# last message in the mailbox), CPU per message (user+system of the
# daemon and everything it forked, from /proc/<pid>/stat), sendmaild's
# peak RSS (VmHWM), each the median of RUNS runs (default 3), and the
# ratios.
#
# Usage: bench/smtp.sh            (as root; needs sendmail-bin and m4)
#        N=500 NBIG=50 RUNS=3 bench/smtp.sh
#        ONLY=ours bench/smtp.sh  (skip the real sendmail)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${N:-2000}
nbig=${NBIG:-200}
runs=${RUNS:-3}
conns=${CONNS:-10}
only=${ONLY:-both}
real=${REAL_SENDMAIL:-/usr/sbin/sendmail}
src=127.0.0.20
realip=127.0.0.31
oursip=127.0.0.32
tck=$(getconf CLK_TCK)

work=$(mktemp -d "${TMPDIR:-/var/tmp}/smtp-bench.XXXXXX")
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

. bench/smtplib.sh

# run_real SIZE COUNT RUN: prints "msgs_per_s cpu_ms_per_msg accept_per_s".
run_real() {
	local size=$1 cnt=$2 d="$work/real-$1-$3" port=$((2600 + $3))
	setup "$d" "$realip" "$port"
	start_real "$d" "$port"
	local c0 t0 t1 c1
	c0=$(cputicks "$spid")
	t0=$(now)
	"$work/smtpload" -addr "$realip:$port" -src "$src" -conns "$conns" -n "$cnt" -size "$size" >"$d/load"
	waitcount "$d/spool/b" "$cnt"
	t1=$(now)
	real_idle
	c1=$(cputicks "$spid")
	stop_real
	awk -v n="$cnt" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v tck="$tck" -v acc="$(awk '{print $7}' "$d/load" | tr -d '(')" \
		'BEGIN{printf "%.2f %.3f %s\n", n/(t1-t0), (c1-c0)/tck*1000/n, acc}'
	rm -rf "$d"
}

# run_ours SIZE COUNT RUN: prints "msgs_per_s cpu_ms_per_msg accept_per_s peak_rss_kib".
run_ours() {
	local size=$1 cnt=$2 d="$work/ours-$1-$3" port=$((2700 + $3))
	setup "$d" "$oursip" "$port"
	start_ours "$d" "$port"
	local c0 t0 t1 c1 hwm
	c0=$(cputicks "$spid")
	t0=$(now)
	"$work/smtpload" -addr "$oursip:$port" -src "$src" -conns "$conns" -n "$cnt" -size "$size" >"$d/load"
	waitcount "$d/spool/b" "$cnt"
	t1=$(now)
	c1=$(cputicks "$spid")
	hwm=$(awk '/^VmHWM/{print $2}' "/proc/$spid/status")
	stop_ours
	if [ -n "$(ls "$d/mqueue")" ]; then echo "sendmaild left files in its queue: $(ls "$d/mqueue" | head -3)" >&2; fi
	awk -v n="$cnt" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v tck="$tck" -v acc="$(awk '{print $7}' "$d/load" | tr -d '(')" -v hwm="$hwm" \
		'BEGIN{printf "%.2f %.3f %s %d\n", n/(t1-t0), (c1-c0)/tck*1000/n, acc, hwm}'
	rm -rf "$d"
}

bench() { # size count label
	local size=$1 cnt=$2 label=$3 r
	: >"$work/real.txt"
	: >"$work/ours.txt"
	for r in $(seq "$runs"); do
		if [ "$only" != ours ]; then run_real "$size" "$cnt" "$r" | tee -a "$work/real.txt" | sed "s/^/  sendmail  $label run $r: /" >&2; fi
		run_ours "$size" "$cnt" "$r" | tee -a "$work/ours.txt" | sed "s/^/  sendmaild $label run $r: /" >&2
	done
	local om oc oa orss
	om=$(median 1 <"$work/ours.txt"); oc=$(median 2 <"$work/ours.txt"); oa=$(median 3 <"$work/ours.txt"); orss=$(median 4 <"$work/ours.txt")
	printf '%s x %d, %d connections, median of %d runs:\n' "$label" "$cnt" "$conns" "$runs"
	printf '  sendmaild: %8.1f msg/s delivered  %8.3f ms CPU/msg  (%s msg/s accepted)  peak RSS %d KiB\n' "$om" "$oc" "$oa" "$orss"
	if [ "$only" != ours ]; then
		local rm rc ra
		rm=$(median 1 <"$work/real.txt"); rc=$(median 2 <"$work/real.txt"); ra=$(median 3 <"$work/real.txt")
		printf '  sendmail:  %8.1f msg/s delivered  %8.3f ms CPU/msg  (%s msg/s accepted)\n' "$rm" "$rc" "$ra"
		awk -v om="$om" -v rm="$rm" -v oc="$oc" -v rc="$rc" \
			'BEGIN{printf "  ratio:     %.1fx messages/s, %.1fx less CPU per message\n", om/rm, rc/oc}'
	fi
}

echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
bench 4096 "$n" "4 KiB"
bench 1048576 "$nbig" "1 MiB"
