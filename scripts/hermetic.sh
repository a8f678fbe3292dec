#!/bin/sh
# Run a command (make test's go test) so that nothing in it can ask the
# system's DNS server: as root with unshare(1), the command runs in a private
# mount namespace where /etc/resolv.conf says "nameserver 127.0.0.1". A test
# that forgets to run its own DNS server then gets "connection refused" from
# loopback instead of reaching a real resolver. Tests that need names run
# their own server (internal/testutil/dnstest) and say so through
# MAILSUITE_RESOLV_CONF or their own namespaces, as before.
#
# Not root, or no unshare: the command runs as it is.
set -eu
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 &&
	unshare -m true 2>/dev/null; then
	conf=$(mktemp /tmp/mailsuite-resolv.XXXXXX)
	trap 'rm -f "$conf"' EXIT
	printf 'nameserver 127.0.0.1\n' > "$conf"
	chmod 0644 "$conf"
	# shellcheck disable=SC2016
	unshare -m --propagation private sh -c \
		'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$conf" "$@"
	exit $?
fi
exec "$@"
