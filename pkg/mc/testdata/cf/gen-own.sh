#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerate own/*.cf and own/*.m4err with GNU m4 and Debian's sendmail-cf.
# Rocky's cf.m4 path is mapped to Debian's, as TestCompileOracle does.
set -eu
cd "$(dirname "$0")/own"
for f in *.mc; do
	b=${f%.mc}
	sed 's#/usr/share/sendmail-cf/#/usr/share/sendmail/cf/#' "$f" | m4 -D_NO_MAKEINFO_ > "$b.cf" 2> "$b.m4err"
	[ -s "$b.m4err" ] || rm -f "$b.m4err"
done
