// SPDX-License-Identifier: MIT

package queue

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mailsuite/internal/testutil"
)

// realSendmail runs Debian's sendmail 8.17 against one queue directory.
// It never talks to anything but loopback: it runs in a private mount
// namespace whose /etc/resolv.conf names 127.0.0.1 and whose /etc/hosts
// gives this host the name mail.hamap.local on 127.0.0.13 (so that the
// smart host [127.0.0.1] is not one of its own addresses), and its cf
// (testdata/sendmail.mc) looks host names up in that file only and
// relays everything to [127.0.0.1] on a port the test chooses.
type realSendmail struct {
	bin   string
	cf    string
	queue string
	work  string
}

func newRealSendmail(t *testing.T, queueDir string, relayPort int) *realSendmail {
	t.Helper()
	testutil.RequireRoot(t, "sendmail runs in a private mount namespace (unshare -m)")
	bin := testutil.Oracle(t, "sendmail", "sendmail-bin")
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not found")
	}
	work := t.TempDir()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"resolv.conf":    "nameserver 127.0.0.1\n",
		"hosts":          "127.0.0.13 mail.hamap.local mail " + host + "\n127.0.0.1 localhost\n",
		"service.switch": "hosts\tfiles\naliases\tfiles\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(work, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, err := os.ReadFile(filepath.Join("testdata", "sendmail.cf"))
	if err != nil {
		t.Fatal(err)
	}
	cf := strings.NewReplacer(
		"@QUEUE@", queueDir,
		"@SWITCH@", filepath.Join(work, "service.switch"),
		"@PORT@", strconv.Itoa(relayPort),
	).Replace(string(tmpl))
	cfPath := filepath.Join(work, "sendmail.cf")
	if err := os.WriteFile(cfPath, []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	return &realSendmail{bin: bin, cf: cfPath, queue: queueDir, work: work}
}

// command prepares sendmail with args inside its private namespace.
func (s *realSendmail) command(args ...string) *exec.Cmd {
	script := `mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && shift 2 && exec "$@"`
	argv := append([]string{"-m", "sh", "-c", script, "sh",
		filepath.Join(s.work, "resolv.conf"), filepath.Join(s.work, "hosts"),
		s.bin, "-C", s.cf}, args...)
	cmd := exec.Command("unshare", argv...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TZ=" + os.Getenv("TZ")}
	return cmd
}

// run runs sendmail with args and stdin, returning stdout and stderr.
func (s *realSendmail) run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := s.command(args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// smtp speaks SMTP to sendmail -bs: each command waits for its reply
// (sendmail rejects input sent ahead of its greeting); after DATA the
// message (CRLF lines, dot-stuffed) and the final dot follow.
func (s *realSendmail) smtp(t *testing.T, cmds []string, data string, flags ...string) error {
	t.Helper()
	cmd := s.command(append(flags, "-bs")...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait()
	defer in.Close()
	r := bufio.NewReader(out)
	reply := func() (string, error) {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return "", fmt.Errorf("sendmail -bs: %w", err)
			}
			if len(l) < 4 || l[3] == ' ' {
				return l, nil
			}
		}
	}
	expect := func(code string) error {
		l, err := reply()
		if err == nil && !strings.HasPrefix(l, code) {
			err = fmt.Errorf("sendmail -bs: got %q, want %s", l, code)
		}
		return err
	}
	if err := expect("220"); err != nil {
		return err
	}
	for _, c := range cmds {
		fmt.Fprintf(in, "%s\r\n", c)
		want := "250"
		if c == "DATA" {
			want = "354"
		}
		if err := expect(want); err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		if c == "DATA" {
			fmt.Fprintf(in, "%s.\r\n", data)
			if err := expect("250"); err != nil {
				return fmt.Errorf("end of data: %w", err)
			}
		}
	}
	fmt.Fprintf(in, "QUIT\r\n")
	return expect("221")
}

// listing runs sendmail -bp (with extra flags).
func (s *realSendmail) listing(t *testing.T, flags ...string) string {
	t.Helper()
	out, errs, err := s.run(t, "", append([]string{"-bp"}, flags...)...)
	if err != nil {
		t.Fatalf("sendmail -bp: %v\n%s%s", err, out, errs)
	}
	return out
}

// queueDir makes a queue directory as sendmail wants it (mode 0700).
func queueDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "mqueue")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

// copyVectors copies the real qf/df samples of testdata/real/<name>
// into dir.
func copyVectors(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		ents, err := os.ReadDir(filepath.Join("testdata", "real", n))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join("testdata", "real", n, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func realSamples(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("testdata", "real"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
