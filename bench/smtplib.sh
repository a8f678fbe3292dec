# SPDX-License-Identifier: MIT
#
# Shell functions shared by bench/smtp.sh and bench/relay.sh (sourced;
# they expect $work, $realip and the variables those scripts set).

# cputicks PID: utime+stime+cutime+cstime of a process, in clock ticks.
cputicks() { awk '{print $14+$15+$16+$17}' "/proc/$1/stat"; }
now() { date +%s.%N; }
# count FILE: messages in an mbox.
count() { if [ -f "$1" ]; then grep -c '^From ' "$1" || true; else echo 0; fi; }
waitport() { # ip port pid
	for _ in $(seq 300); do
		if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
		kill -0 "$3" 2>/dev/null || { echo "daemon exited" >&2; return 1; }
		sleep 0.1
	done
	echo "no listener on $1:$2" >&2
	return 1
}
waitcount() { # file want
	local deadline=$((SECONDS + 3600))
	while [ "$(count "$1")" -lt "$2" ]; do
		[ $SECONDS -lt $deadline ] || { echo "timeout: $(count "$1") of $2 delivered" >&2; return 1; }
		sleep 0.05
	done
}
# settle: lets the run before leave nothing behind for the next one to
# pay for: its dirty pages are flushed, and its closed connections
# leave TIME_WAIT (60 s on Linux). Each run makes thousands of
# connections (sendmail: one per message to the sink), and with their
# TIME_WAIT sockets still there the next run's connects cost more: runs
# of sendmaild right after the real sendmail's measured 420-500 msg/s
# at 2.3-2.8 ms CPU/msg, the same runs 45 s later 690 msg/s at 1.6 ms.
settle() {
	sync
	for _ in $(seq 100); do
		awk '/^(Dirty|Writeback):/ {s += $2} END {exit !(s < 1024)}' /proc/meminfo && break
		sleep 0.1
	done
	for _ in $(seq 90); do
		[ "$(ss -Htan state time-wait | wc -l)" -lt 100 ] && break
		sleep 1
	done
	sleep 1
}

# setup DIR IP PORT: a cf and the files it names (after settle).
setup() {
	settle
	local d=$1
	mkdir -p "$d/mqueue" "$d/spool"
	chmod 700 "$d/mqueue"
	chmod 1777 "$d/spool"
	# MCDEFS: more m4 -D options (e.g. -DQUEUE_CHILDREN=n). Both daemons
	# bound only their queue runners by MaxQueueChildren, so the default
	# cf is used as it is.
	m4 -D_NO_MAKEINFO_ -DWORKDIR="$d" -DLISTEN="$2" -DPORT="$3" ${SMARTDEFS:-} ${MCDEFS:-} bench/testdata/bench.mc >"$d/sendmail.cf"
	printf 'hamap.local\nmail.hamap.local\n' >"$d/local-host-names"
	printf '%s' "${RELAYDOMAINS:-}" >"$d/relay-domains"
	printf 'postmaster: root\nMAILER-DAEMON: postmaster\n' >"$d/aliases"
	printf 'hosts files\naliases files\n' >"$d/service.switch"
	printf 'nameserver 127.0.0.1\n' >"$d/resolv.conf"
	printf '127.0.0.1 localhost\n%s mail.hamap.local mail\n127.0.0.33 smart.bench\n' "$realip" >"$d/hosts"
	printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$d/nsswitch.conf"
	{ grep '^root:' /etc/passwd; echo 'a:x:1023:1023::/nonexistent:/bin/sh'; echo 'b:x:1024:1024::/nonexistent:/bin/sh'; } >"$d/passwd"
	: >"$d/shadow"
}

# median COLUMN < lines
median() { awk -v c="$1" '{print $c}' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }


# start_real DIR PORT: the real sendmail -bD on $realip:PORT in its own
# mount, UTS and PID namespace (PID 1 there, so it reaps everything it
# forks); sets upid (unshare) and spid (sendmail).
start_real() {
	local d=$1
	unshare --mount --uts --pid --fork --kill-child --propagation private sh -c '
		set -e
		echo mail.hamap.local >/proc/sys/kernel/hostname
		for f in resolv.conf hosts nsswitch.conf passwd; do mount --bind "$1/$f" /etc/$f; done
		mount --bind "$1/spool" /var/mail
		"$2" -C "$1/sendmail.cf" -bi >/dev/null 2>&1 || true
		exec "$2" -C "$1/sendmail.cf" -bD' sh "$d" "$real" >"$d/stdout" 2>&1 &
	upid=$!
	pids+=("$upid")
	waitport "$realip" "$2" "$upid"
	spid=$(pgrep -P "$upid" | head -1)
}

# stop_real: waits until every process sendmail forked has ended and been
# reaped, then stops it. unshare --fork ignores SIGTERM; sendmail, PID 1
# of its namespace, has a handler for it.
real_idle() {
	while [ -n "$(cat /proc/"$spid"/task/*/children 2>/dev/null)" ]; do sleep 0.05; done
}
stop_real() {
	kill "$spid" 2>/dev/null || true
	wait "$upid" 2>/dev/null || true
}

# start_ours DIR PORT: bin/sendmaild -bd on $oursip:PORT; sets spid.
start_ours() {
	local d=$1
	MAILSUITE_PASSWD="$d/passwd" MAILSUITE_SHADOW="$d/shadow" MAILSUITE_SPOOL="$d/spool" \
		MAILSUITE_RESOLV_CONF="$d/resolv.conf" \
		"$work/sendmaild" -C "$d/sendmail.cf" -L "$d/maillog" -bd >"$d/stdout" 2>&1 &
	spid=$!
	pids+=("$spid")
	waitport "$oursip" "$2" "$spid"
}
stop_ours() {
	kill "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
}
