// SPDX-License-Identifier: MIT

package pop3d

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mailsuite/internal/testutil"
)

func readTestMbox(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "mbox", name+".mbox"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestCurl retrieves a message with curl's pop3:// support, then deletes
// it, as a user's script would.
func TestCurl(t *testing.T) {
	curl := testutil.Oracle(t, "curl", "curl")
	ts := startServer(t, readTestMbox(t, "lifecycle-07-deleted-expunge"), nil)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(curl, append([]string{"-sS", "--noproxy", "*", "-u", "b:pw"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	base := "pop3://" + ts.addr + "/"
	if got, want := run(base), "1 294\r\n2 105\r\n3 135\r\n4 166\r\n"; got != want {
		t.Errorf("LIST via curl: %q, want %q", got, want)
	}
	msg := run(base + "4")
	if !strings.HasPrefix(msg, "From: Carol <carol@example.org>\r\n") || !strings.HasSuffix(msg, "\r\nThird body.\r\n") || strings.Contains(msg, "X-UID") {
		t.Errorf("RETR via curl: %q", msg)
	}
	run("-X", "DELE", "-I", base+"1")
	if got, want := run(base), "1 105\r\n2 135\r\n3 166\r\n"; got != want {
		t.Errorf("LIST after DELE: %q, want %q", got, want)
	}
}

// TestPoplib downloads every message with python3's poplib (USER/PASS,
// STAT, UIDL, RETR, DELE, QUIT) and checks the mailbox is empty after.
func TestPoplib(t *testing.T) {
	py := testutil.Oracle(t, "python3", "python3")
	ts := startServer(t, readTestMbox(t, "lifecycle-00-delivered"), nil)
	host, port, _ := strings.Cut(ts.addr, ":")
	script := `
import poplib, sys
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=30)
print(p.getwelcome().decode())
p.user('b'); p.pass_('pw')
n, size = p.stat()
print('stat', n, size)
print('capa', sorted(p.capa().keys()))
for line in p.uidl()[1]:
    print('uidl', line.decode().split()[0], len(line.decode().split()[1]))
for i in range(1, n + 1):
    resp, lines, octets = p.retr(i)
    print('retr', i, resp.decode(), len(lines), lines[2].decode())
    p.dele(i)
print(p.quit().decode())
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=30)
p.user('b'); p.pass_('pw')
print('stat', *p.stat())
p.quit()
`
	cmd := exec.Command(py, "-c", script, host, port)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("poplib: %v\n%s", err, out)
	}
	want := `+OK Dovecot (Debian) ready.
stat 3 676
capa ['AUTH-RESP-CODE', 'CAPA', 'PIPELINING', 'RESP-CODES', 'TOP', 'UIDL']
uidl 1 16
uidl 2 16
uidl 3 16
retr 1 +OK 216 octets 8 To: mboxtest1@localhost
retr 2 +OK 294 octets 11 Subject: second message with From lines
retr 3 +OK 166 octets 7 Subject: third message
+OK Logging out, messages deleted.
stat 0 0
`
	if string(out) != want {
		t.Errorf("poplib transcript:\n%s\nwant:\n%s", out, want)
	}
}
