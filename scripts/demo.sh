#!/bin/sh
# SPDX-License-Identifier: MIT
#
# demo.sh: the seed scenario (a@hamap.local -> b@hamap.local) on loopback,
# run by `make demo`. It needs no system users and touches nothing under
# /etc: everything lives in a state directory under the checkout.
#
#   scripts/demo.sh           build, set up, start sendmaild and dovecotd,
#                             print what to try, tail the logs; Ctrl-C stops
#   scripts/demo.sh --check   the same, then send a -> b over SMTP and with
#                             sendmail -t -i, read both back over IMAP and
#                             POP3, print one summary line, stop, and exit
#                             non-zero on any failure (DEMO_CHECK=1 also)
#
# The state directory is reset on every run (it holds a marker file, and a
# directory without it is never removed), so two runs in a row start from
# the same state; mail from an earlier run is gone.
#
# Environment: DEMO_STATE (state directory, default .demo in the checkout),
# DEMO_BIN (use these built commands instead of running `make build`),
# DEMO_SMTP_PORT (2525), DEMO_IMAP_PORT (10143), DEMO_POP3_PORT (10110).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
state=${DEMO_STATE:-$root/.demo}
smtp_port=${DEMO_SMTP_PORT:-2525}
imap_port=${DEMO_IMAP_PORT:-10143}
pop3_port=${DEMO_POP3_PORT:-10110}
check=${DEMO_CHECK:-}
case ${1:-} in
--check) check=1 ;;
"") ;;
*) echo "usage: $0 [--check]" >&2; exit 64 ;;
esac
case $check in 0 | false) check= ;; esac

# Known demo passwords (the shadow file holds their SHA-512 crypt hashes).
pass_a=a-secret
pass_b=b-secret

die() { echo "demo: $*" >&2; exit 1; }

for prog in openssl python3; do
	command -v $prog >/dev/null 2>&1 || die "$prog not found (Debian package $prog)"
done
case $state in
*'|'* | *' '*) die "state directory $state: no '|' or blanks, please" ;;
esac

if [ -n "${DEMO_BIN:-}" ]; then
	bin=$DEMO_BIN
else
	make -C "$root" --no-print-directory build >&2 || die "make build failed"
	bin=$root/bin
fi
for c in sendmaild dovecotd mc2cf makemap; do
	[ -x "$bin/$c" ] || die "$bin/$c missing"
done

port_busy() {
	python3 -c 'import socket,sys
s=socket.socket(); s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}
for p in "$smtp_port" "$imap_port" "$pop3_port"; do
	if port_busy "$p"; then
		die "127.0.0.1:$p is in use (another make demo?); stop it or set DEMO_SMTP_PORT/DEMO_IMAP_PORT/DEMO_POP3_PORT"
	fi
done

# Reset the state directory.
if [ -e "$state" ]; then
	[ -f "$state/.mailsuite-demo" ] || die "$state exists and is not a demo state directory; not touching it"
	rm -rf "$state"
fi
mkdir -p "$state/etc/mail" "$state/queue" "$state/mail" "$state/log" \
	"$state/run/dovecot" "$state/home/a/mail" "$state/home/b/mail"
: >"$state/.mailsuite-demo"
m=$state/etc/mail

# sendmail.mc: the seed's, with the paths moved into the state directory
# and the daemon on a high loopback port.
sed -e "s|^DAEMON_OPTIONS(\`Port=smtp, Name=MTA')dnl|DAEMON_OPTIONS(\`Port=$smtp_port, Addr=127.0.0.1, Name=MTA')dnl|" \
	-e "s|\`/etc/mail/aliases'|\`$m/aliases'|" \
	-e "s|\`/var/log/mail/statistics'|\`$state/log/statistics'|" \
	-e "s|\`/etc/mail/userdb.db'|\`$m/userdb.db'|" \
	-e "s|/etc/mail/mailertable.db|$m/mailertable.db|" \
	-e "s|/etc/mail/virtusertable.db|$m/virtusertable.db|" \
	-e "s|/etc/mail/access.db|$m/access.db|" \
	-e "/^OSTYPE(/a\\
dnl make demo: state under $state\\
define(\`QUEUE_DIR', \`$state/queue')dnl\\
define(\`confCW_FILE', \`-o $m/local-host-names')dnl\\
define(\`confCT_FILE', \`-o $m/trusted-users')dnl\\
define(\`confPID_FILE', \`$state/run/sendmail.pid')dnl\\
dnl a checkout below /tmp: trust its sticky bit, or the maps are unsafe\\
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl" \
	"$root/etc/mail/sendmail.mc" >"$m/sendmail.mc"
grep -q "Port=$smtp_port, Addr=127.0.0.1" "$m/sendmail.mc" ||
	die "etc/mail/sendmail.mc has no DAEMON_OPTIONS(\`Port=smtp, Name=MTA') line to change"
if grep -n '/etc/mail\|/var/log' "$m/sendmail.mc" | grep -v "^[0-9]*:dnl\\|include(\\|$state" >&2; then
	die "sendmail.mc still names a system path (above)"
fi
cp "$root/etc/mail/access" "$root/etc/mail/aliases" "$root/etc/mail/local-host-names" "$m/"
"$bin/mc2cf" -o "$m/sendmail.cf" "$m/sendmail.mc" || die "mc2cf failed"
"$bin/makemap" hash "$m/access" <"$m/access" || die "makemap hash access failed"

# Users a and b: the invoking user's uid and gid, homes in the state dir.
# Dovecot refuses mail access to uid 0, so as root they get the uids of
# the reference run (anchor-behaviour.md §0: a 1023, b 1024), group users.
uid_a=$(id -u) uid_b=$(id -u) gid=$(id -g)
if [ "$uid_a" -eq 0 ]; then
	uid_a=1023 uid_b=1024 gid=100
fi
hash_a=$(openssl passwd -6 "$pass_a")
hash_b=$(openssl passwd -6 "$pass_b")
days=$(($(date +%s) / 86400))
{
	echo "root:x:0:0:root:/root:/bin/sh"
	echo "a:x:$uid_a:$gid:Demo user a:$state/home/a:/bin/sh"
	echo "b:x:$uid_b:$gid:Demo user b:$state/home/b:/bin/sh"
} >"$state/passwd"
{
	echo "root:*:$days:0:99999:7:::"
	echo "a:$hash_a:$days:0:99999:7:::"
	echo "b:$hash_b:$days:0:99999:7:::"
} >"$state/shadow"
chmod 600 "$state/shadow"
# As useradd does on Debian, an empty mailbox for each user (user, group
# mail, 0660), so that a reader never creates it first with its own owner.
for u in a b; do
	: >"$state/mail/$u"
	chmod 0660 "$state/mail/$u"
	if [ "$(id -u)" -eq 0 ]; then
		eval chown "\$uid_$u:mail" "$state/mail/$u" 2>/dev/null ||
			eval chown "\$uid_$u:$gid" "$state/mail/$u"
		# dovecotd started as root serves each user from a mail
		# process running as that user, as Dovecot does: the homes
		# are the users', the spool is laid out as Debian's /var/mail.
		eval chown -R "\$uid_$u:$gid" "$state/home/$u"
	fi
done
if [ "$(id -u)" -eq 0 ]; then
	chmod 0755 "$state" "$state/home"
	if chgrp mail "$state/mail" 2>/dev/null; then
		chmod 2775 "$state/mail"
	else
		chmod 1777 "$state/mail"
	fi
fi
MAILSUITE_PASSWD=$state/passwd
MAILSUITE_SHADOW=$state/shadow
MAILSUITE_SPOOL=$state/mail
export MAILSUITE_PASSWD MAILSUITE_SHADOW MAILSUITE_SPOOL

"$bin/sendmaild" -bi -C "$m/sendmail.cf" >"$state/log/newaliases.out" 2>&1 ||
	{ cat "$state/log/newaliases.out" >&2; die "sendmaild -bi (newaliases) failed"; }

# Dovecot's default first_valid_uid is 500; a lower uid of ours is let in.
first_uid=500
[ "$uid_a" -ge 500 ] || first_uid=$uid_a
# dovecot: the seed's tree, with a local.conf (which dovecot.conf includes
# last) for the loopback ports and the state directory.
cp -R "$root/etc/dovecot" "$state/etc/dovecot"
cat >"$state/etc/dovecot/local.conf" <<EOF
# make demo: loopback, unprivileged ports, state under $state
listen = 127.0.0.1
base_dir = $state/run/dovecot
log_path = $state/log/dovecot.log
mail_location = mbox:~/mail:INBOX=$state/mail/%u
ssl = no
disable_plaintext_auth = no
first_valid_uid = $first_uid
service imap-login {
  inet_listener imap {
    port = $imap_port
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = $pop3_port
  }
  inet_listener pop3s {
    port = 0
  }
}
EOF

smtp_pid=
dove_pid=
tail_pid=
stop() {
	for p in $tail_pid $smtp_pid $dove_pid; do
		kill "$p" 2>/dev/null || true
	done
	for p in $tail_pid $smtp_pid $dove_pid; do
		wait "$p" 2>/dev/null || true
	done
	tail_pid= smtp_pid= dove_pid=
}
trap 'stop; exit 1' EXIT
trap 'echo; echo "demo: stopping"; stop; trap - EXIT; exit 0' INT TERM

"$bin/sendmaild" -bd -C "$m/sendmail.cf" -L "$state/log/maillog" \
	>"$state/log/sendmaild.out" 2>&1 &
smtp_pid=$!
"$bin/dovecotd" -F -c "$state/etc/dovecot/dovecot.conf" \
	>"$state/log/dovecotd.out" 2>&1 &
dove_pid=$!
echo "$smtp_pid" >"$state/run/sendmaild.pid"
echo "$dove_pid" >"$state/run/dovecotd.pid"

# Wait (up to 15 s) until the three ports answer.
i=0
while :; do
	kill -0 "$smtp_pid" 2>/dev/null || { cat "$state/log/sendmaild.out" >&2; die "sendmaild exited"; }
	kill -0 "$dove_pid" 2>/dev/null || { cat "$state/log/dovecotd.out" >&2; die "dovecotd exited"; }
	if port_busy "$smtp_port" && port_busy "$imap_port" && port_busy "$pop3_port"; then
		break
	fi
	i=$((i + 1))
	[ $i -lt 150 ] || die "daemons did not answer on 127.0.0.1:$smtp_port/$imap_port/$pop3_port within 15 s"
	sleep 0.1
done

if [ -n "$check" ]; then
	python3 "$root/scripts/demo-check.py" "$smtp_port" "$imap_port" "$pop3_port" \
		"$pass_b" "$bin/sendmaild" "$m/sendmail.cf" "$state/log/maillog" || {
		echo "--- $state/log/maillog" >&2
		tail -n 20 "$state/log/maillog" >&2 || true
		echo "--- $state/log/dovecot.log" >&2
		tail -n 20 "$state/log/dovecot.log" >&2 || true
		cat "$state/log/sendmaild.out" "$state/log/dovecotd.out" >&2 || true
		die "check failed"
	}
	stop
	trap - EXIT
	exit 0
fi

rel=$state
case $state in "$PWD"/*) rel=${state#"$PWD"/} ;; esac
relbin=$bin
case $bin in "$PWD"/*) relbin=${bin#"$PWD"/} ;; esac
env="MAILSUITE_PASSWD=$rel/passwd MAILSUITE_SHADOW=$rel/shadow MAILSUITE_SPOOL=$rel/mail"
cat <<EOF

mailsuite demo is up (state in $state, reset on every make demo):
  sendmaild -bd  SMTP  127.0.0.1:$smtp_port  (pid $smtp_pid, cf $rel/etc/mail/sendmail.cf)
  dovecotd       IMAP  127.0.0.1:$imap_port, POP3 127.0.0.1:$pop3_port  (pid $dove_pid)
  users: a / $pass_a and b / $pass_b (in $rel/passwd and $rel/shadow), domain hamap.local

Send a -> b (swaks: Debian package swaks):
  swaks --server 127.0.0.1 --port $smtp_port --from a@hamap.local --to b@hamap.local --header 'Subject: hello from a'

or with our sendmail (-t reads the recipients from the header):
  printf 'From: a@hamap.local\nTo: b@hamap.local\nSubject: hi via sendmail -t\n\nhello\n' | $env $relbin/sendmaild -C $rel/etc/mail/sendmail.cf -L $rel/log/maillog -f a@hamap.local -t -i

Read b's mail (curl: Debian package curl):
  curl -s --url 'imap://127.0.0.1:$imap_port/INBOX;UID=1' --user b:$pass_b
  curl -s --url 'pop3://127.0.0.1:$pop3_port/1' --user b:$pass_b
  python3 -c 'import imaplib; m=imaplib.IMAP4("127.0.0.1",$imap_port); m.login("b","$pass_b"); m.select(); print(m.search(None,"ALL")); print(m.fetch("1","(BODY[HEADER.FIELDS (FROM SUBJECT)])")[1][0][1].decode())'

Logs follow (sendmaild: $rel/log/maillog, dovecotd: $rel/log/dovecot.log). Ctrl-C stops both daemons.

EOF
touch "$state/log/maillog" "$state/log/dovecot.log"
tail -n +1 -F "$state/log/maillog" "$state/log/dovecot.log" "$state/log/sendmaild.out" "$state/log/dovecotd.out" &
tail_pid=$!
# Wait until Ctrl-C, or until a daemon dies on its own.
while kill -0 "$smtp_pid" 2>/dev/null && kill -0 "$dove_pid" 2>/dev/null; do
	sleep 1
done
# The daemons are in our process group, so Ctrl-C reaches them too, and
# they may be gone (with status 0) before our trap runs: that is a stop.
code=0
for p in $smtp_pid $dove_pid; do
	if ! kill -0 "$p" 2>/dev/null; then
		wait "$p" || code=$?
	fi
done
stop
trap - EXIT
if [ $code -ne 0 ]; then
	echo "demo: a daemon exited with status $code (logs in $state/log)" >&2
	exit 1
fi
echo "demo: stopped"
exit 0
