#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/imaptest.sh: Dovecot's imaptest scripted tests (the external IMAP
# yardstick of issue 6) against real Dovecot 2.3 with mbox and against
# dovecotd, on the same kind of setup: a passwd-file passdb/userdb with one
# user b, mail_location = mbox:~/mail:INBOX=~/inbox, plaintext LOGIN on a
# private loopback address and a high port. Prints imaptest's summary line
# and the pass counts for each server, overall and for the tests that need
# only IMAP4rev1 plus the extensions dovecotd advertises.
#
# The script builds and downloads nothing. It needs:
#   IMAPTEST   path of an imaptest binary (built outside this repository)
#   TESTS      imaptest's tests directory (default: $(dirname $IMAPTEST)/tests)
#   DOVECOTD   dovecotd binary (default bin/dovecotd, as `make` leaves it)
#   DOVECOT    Dovecot's master binary (default /usr/sbin/dovecot)
# Real Dovecot runs as its full daemon from its own base_dir under a temp
# directory on 127.0.0.61, started and stopped by PID (never the system
# service); that needs root, and then the mail user is nobody. dovecotd runs
# on 127.0.0.62, as nobody when the script runs as root (DOVECOTD_AS_ROOT=1
# runs it as root instead).
#
# Usage: IMAPTEST=/tmp/imaptest/src/imaptest bench/imaptest.sh [test-name...]
#   With names, only those tests are run (copied into a private directory).
#   KEEP=1 keeps the work directory and prints its path.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${IMAPTEST:?set IMAPTEST to the path of an imaptest binary}"
TESTS=${TESTS:-$(dirname "$IMAPTEST")/tests}
DOVECOTD=${DOVECOTD:-bin/dovecotd}
DOVECOT=${DOVECOT:-/usr/sbin/dovecot}
[ -x "$IMAPTEST" ] || { echo "imaptest.sh: $IMAPTEST is not executable" >&2; exit 2; }
[ -d "$TESTS" ] || { echo "imaptest.sh: no tests directory $TESTS (set TESTS)" >&2; exit 2; }
[ -x "$DOVECOTD" ] || { echo "imaptest.sh: no $DOVECOTD; run make first or set DOVECOTD" >&2; exit 2; }
DOVECOTD=$(realpath "$DOVECOTD")

# The tests that need nothing beyond IMAP4rev1 and the extensions dovecotd
# advertises (their "capabilities:" header names only BINARY, ESEARCH,
# LIST-EXTENDED, MOVE or UIDPLUS, or nothing). The rest need CONDSTORE,
# SORT, THREAD, CATENATE, MULTIAPPEND, CONTEXT=SEARCH, URLAUTH, NOTIFY or ID.
core_tests="append append-binary atoms close copy esearch expunge expunge2
fetch fetch-binary-mime fetch-binary-mime-base64 fetch-binary-mime-qp
fetch-body fetch-body-message-rfc822 fetch-body-message-rfc822-mime
fetch-body-message-rfc822-x2 fetch-body-mime fetch-bodystructure
fetch-envelope list listext logout move mutf7 nil pipeline search-addresses
search-body search-date search-flags search-header search-sets search-size
select store subscribe uidplus uidvalidity uidvalidity-rename"

pass=b-secret
hash='{SHA512-CRYPT}$6$abcdefgh$MxsobjqfFEN9icBdnbfNf7x6xHktiBf8NnfnH06XyQJi3/5wTchWYqmPV/n7dnrwZ7F9q1CUmR26/SARgAjUG0'

work=$(mktemp -d "${TMPDIR:-/tmp}/imaptest-bench.XXXXXX")
chmod 755 "$work"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
	if [ "${KEEP:-}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The tests to run: all of them, or the named ones with their mbox files.
if [ $# -gt 0 ]; then
	mkdir "$work/tests"
	cp "$TESTS/default.mbox" "$work/tests/" 2>/dev/null || true
	for t in "$@"; do cp "$TESTS/$t" "$work/tests/"; [ -f "$TESTS/$t.mbox" ] && cp "$TESTS/$t.mbox" "$work/tests/"; done
	TESTS=$work/tests
fi

free_port() { # a free TCP port on address $1
	python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}

wait_port() { # wait until $1:$2 accepts connections
	for _ in $(seq 100); do
		if python3 -c 'import socket,sys; socket.create_connection((sys.argv[1],int(sys.argv[2])),1)' "$1" "$2" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "imaptest.sh: nothing listens on $1:$2" >&2
	return 1
}

if [ "$(id -u)" = 0 ]; then muid=65534 mgid=65534; else muid=$(id -u) mgid=$(id -g); fi

# setup <name> <address> <port>: a home for b and a dovecot.conf.
setup() {
	local d=$work/$1
	mkdir -p "$d/home/b/mail" "$d/run"
	printf 'b:%s:%s:%s::%s/home/b::\n' "$hash" "$muid" "$mgid" "$d" >"$d/users"
	cat >"$d/dovecot.conf" <<EOF
protocols = imap
listen = $2
base_dir = $d/run
instance_name = imaptest-$1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = mbox:~/mail:INBOX=~/inbox
mail_max_userip_connections = 100
log_path = $d/log
passdb {
  driver = passwd-file
  args = $d/users
}
userdb {
  driver = passwd-file
  args = $d/users
}
service imap-login {
  inet_listener imap {
    address = $2
    port = $3
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
	touch "$d/home/b/inbox" "$d/log"
	chown -R "$muid:$mgid" "$d/home" "$d/log"
	chmod 600 "$d/home/b/inbox"
}

run_imaptest() { # run_imaptest <name> <address> <port>
	echo "== imaptest against $1 ($2:$3)"
	"$IMAPTEST" host="$2" port="$3" user=b pass="$pass" test="$TESTS" \
		>"$work/$1.out" 2>&1 || true
	grep -E 'test groups:|individual commands failed' "$work/$1.out" || tail -5 "$work/$1.out"
	# imaptest reports each failing command as "*** Test <name> command ...".
	grep -oE '^\*\*\* Test [^ ]+' "$work/$1.out" | awk '{print $3}' | sort -u >"$work/$1.failed" || true
	# imaptest skips a test whose "capabilities:" header names one the
	# server does not list after LOGIN (this imaptest's summary does not
	# always count those skips), so the script decides skips the same way.
	# A "state: nonauth" test is judged by the capabilities before login.
	local caps precaps
	caps=" $(python3 -c 'import imaplib,sys
c=imaplib.IMAP4(sys.argv[1],int(sys.argv[2])); c.login("b",sys.argv[3])
print(c.capability()[1][0].decode().upper()); c.logout()' "$2" "$3" "$pass") "
	precaps=" $(python3 -c 'import imaplib,sys
c=imaplib.IMAP4(sys.argv[1],int(sys.argv[2]))
print(" ".join(c.capabilities).upper()); c.logout()' "$2" "$3") "
	local total=0 core=0 corepass=0 skipped=0 skiplist=""
	for f in "$TESTS"/*; do
		local t need have skip=""
		t=$(basename "$f")
		case $t in *.mbox) continue ;; esac
		[ -f "$f" ] || continue
		need=$(sed -n '/^$/q; s/^capabilities:[[:space:]]*//Ip' "$f" | tr '[:lower:]' '[:upper:]')
		have=$caps
		if sed -n '/^$/q; p' "$f" | grep -qi '^state:[[:space:]]*nonauth'; then have=$precaps; fi
		for c in $need; do
			case $have in *" $c "*) ;; *) skip=1 ;; esac
		done
		# What imaptest reports as failed was run, whatever we think.
		grep -qx "$t" "$work/$1.failed" && skip=""
		if [ -n "$skip" ]; then
			skipped=$((skipped + 1)) skiplist="$skiplist $t"
			continue
		fi
		total=$((total + 1))
		for c in $core_tests; do
			if [ "$c" = "$t" ]; then
				core=$((core + 1))
				grep -qx "$t" "$work/$1.failed" || corepass=$((corepass + 1))
			fi
		done
	done
	local failed
	failed=$(wc -l <"$work/$1.failed")
	echo "$1: $((total - failed)) of $total tests not skipped pass ($skipped skipped for capabilities); core (IMAP4rev1 + dovecotd's extensions): $corepass of $core pass"
	if [ "$failed" -gt 0 ]; then echo "$1 failed: $(tr '\n' ' ' <"$work/$1.failed")"; fi
	if [ "$skipped" -gt 0 ]; then echo "$1 skipped:$skiplist"; fi
}

if [ "$(id -u)" = 0 ]; then
	port=$(free_port 127.0.0.61)
	setup dovecot 127.0.0.61 "$port"
	"$DOVECOT" -F -c "$work/dovecot/dovecot.conf" >"$work/dovecot/stderr" 2>&1 &
	pids+=($!)
	wait_port 127.0.0.61 "$port"
	run_imaptest dovecot 127.0.0.61 "$port"
else
	echo "== real Dovecot skipped: its full daemon needs root"
fi

port=$(free_port 127.0.0.62)
setup dovecotd 127.0.0.62 "$port"
if [ "$(id -u)" = 0 ] && [ "${DOVECOTD_AS_ROOT:-}" != 1 ]; then
	chown -R "$muid:$mgid" "$work/dovecotd/users" "$work/dovecotd/run"
	setpriv --reuid="$muid" --regid="$mgid" --clear-groups "$DOVECOTD" -c "$work/dovecotd/dovecot.conf" >"$work/dovecotd/stderr" 2>&1 &
else
	"$DOVECOTD" -c "$work/dovecotd/dovecot.conf" >"$work/dovecotd/stderr" 2>&1 &
fi
pids+=($!)
wait_port 127.0.0.62 "$port"
run_imaptest dovecotd 127.0.0.62 "$port"
