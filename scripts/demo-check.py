# SPDX-License-Identifier: MIT
"""The check of `make demo` (scripts/demo.sh --check).

usage: demo-check.py SMTP_PORT IMAP_PORT POP3_PORT B_PASSWORD SENDMAILD CF LOG

Sends one message a@hamap.local -> b@hamap.local over SMTP (smtplib) and one
with `sendmaild -C CF -L LOG -f a@hamap.local -t -i`, then waits until b's INBOX holds both over
IMAP (imaplib) and reads them again over POP3 (poplib). Prints one summary
line; exits 1 on any failure.
"""

import imaplib
import poplib
import smtplib
import subprocess
import sys
import time
import uuid

HOST = "127.0.0.1"


def fail(msg):
    print("demo check: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    smtp_port, imap_port, pop3_port = (int(a) for a in sys.argv[1:4])
    password, sendmaild, cf, log = sys.argv[4:8]
    token = uuid.uuid4().hex[:12]
    subj_smtp = "demo smtp " + token
    subj_cli = "demo sendmail " + token

    msg = ("From: a@hamap.local\r\nTo: b@hamap.local\r\n"
           "Subject: %s\r\n\r\nhello b, from a over SMTP\r\n" % subj_smtp)
    try:
        with smtplib.SMTP(HOST, smtp_port, timeout=20) as s:
            code, banner = s.ehlo("client.hamap.local")
            if code != 250:
                fail("EHLO: %d %s" % (code, banner))
            refused = s.sendmail("a@hamap.local", ["b@hamap.local"], msg)
            if refused:
                fail("SMTP refused %r" % refused)
    except (OSError, smtplib.SMTPException) as e:
        fail("SMTP: %s" % e)

    cli = ("From: a@hamap.local\nTo: b@hamap.local\n"
           "Subject: %s\n\nhello b, from a with sendmail -t -i\n" % subj_cli)
    r = subprocess.run([sendmaild, "-C", cf, "-L", log, "-f", "a@hamap.local", "-t", "-i"], input=cli.encode(),
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        fail("sendmail -t -i exited %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))

    # IMAP: wait (up to 20 s) for both messages in b's INBOX.
    deadline = time.time() + 20
    found = {}
    while True:
        try:
            m = imaplib.IMAP4(HOST, imap_port, timeout=20)
            m.login("b", password)
            typ, data = m.select("INBOX", readonly=True)
            if typ != "OK":
                fail("IMAP SELECT: %s %r" % (typ, data))
            found = {}
            for subj in (subj_smtp, subj_cli):
                typ, data = m.search(None, "SUBJECT", '"%s"' % subj)
                if typ == "OK" and data and data[0].split():
                    found[subj] = data[0].split()[0]
            if len(found) == 2:
                typ, data = m.fetch(found[subj_smtp], "(BODY.PEEK[])")
                body = data[0][1] if typ == "OK" and data and data[0] else b""
                if b"hello b, from a over SMTP" not in body:
                    fail("IMAP FETCH: body of the SMTP message missing: %r" % body[:200])
                if b"Received:" not in body:
                    fail("IMAP FETCH: the SMTP message has no Received header")
            m.logout()
        except (OSError, imaplib.IMAP4.error) as e:
            fail("IMAP: %s" % e)
        if len(found) == 2:
            break
        if time.time() > deadline:
            fail("IMAP: after 20 s b's INBOX holds %d of the 2 messages" % len(found))
        time.sleep(0.3)

    # POP3: the same two messages.
    try:
        p = poplib.POP3(HOST, pop3_port, timeout=20)
        p.user("b")
        p.pass_(password)
        count, _ = p.stat()
        seen = set()
        for i in range(1, count + 1):
            _, lines, _ = p.retr(i)
            text = b"\n".join(lines)
            for subj in (subj_smtp, subj_cli):
                if ("Subject: " + subj).encode() in text:
                    seen.add(subj)
        p.quit()
    except (OSError, poplib.error_proto) as e:
        fail("POP3: %s" % e)
    if len(seen) != 2:
        fail("POP3: %d of the 2 messages among b's %d" % (len(seen), count))

    print("demo check: ok: a -> b over SMTP :%d and sendmail -t -i; "
          "b read both over IMAP :%d and POP3 :%d (%d messages)"
          % (smtp_port, imap_port, pop3_port, count))


if __name__ == "__main__":
    main()
