// SPDX-License-Identifier: MIT

package smtpd

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestETRNHook checks the replies to ETRN and what the hook is told:
// the -qR style match sendmail builds from the argument.
func TestETRNHook(t *testing.T) {
	var mu sync.Mutex
	var got []string
	hook := func(_ context.Context, match string) error {
		mu.Lock()
		defer mu.Unlock()
		if match == "@fail.example" {
			return errors.New("no runner")
		}
		got = append(got, match)
		return nil
	}
	e := newEnv(t, envOpts{etrn: hook})
	c := e.dial(t, trustedIP)
	c.reply()
	c.cmd("EHLO x")
	runSteps(t, c, []step{
		{"ETRN hamap.local", "250 2.0.0 Queuing for node hamap.local started"},
		{"ETRN @hamap.local", "250 2.0.0 Queuing for node @hamap.local started"},
		{"ETRN #mqueue", "250 2.0.0 Queuing for queue group mqueue started"},
		{"ETRN #nosuch", "459 4.5.4 Queue nosuch unknown"},
		{"ETRN", "500 5.5.2 Parameter required"},
		{"ETRN fail.example", "451 4.3.0 Temporary system failure. Please try again later."},
	})
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"@hamap.local", "hamap.local", ""}, got); diff != "" {
		t.Errorf("hook calls (-want +got):\n%s", diff)
	}
	c.cmd("QUIT")
	log := e.log.String()
	for _, want := range []string{": [127.0.0.20]: ETRN hamap.local\n", ": [127.0.0.20]: ETRN #nosuch\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestETRNRefused: PrivacyOptions noetrn refuses ETRN, does not offer it
// and logs the command as rejected, as srvrsmtp.c does; the hook is not
// called.
func TestETRNRefused(t *testing.T) {
	called := false
	e := newEnv(t, envOpts{
		etrn: func(context.Context, string) error { called = true; return nil },
		cfText: func(s string) string {
			return strings.Replace(s, "O PrivacyOptions=", "O PrivacyOptions=noetrn,", 1)
		}})
	c := e.dial(t, trustedIP)
	c.reply()
	if ehlo := c.cmd("EHLO x"); strings.Contains(ehlo, "ETRN") {
		t.Errorf("ETRN offered under noetrn: %q", ehlo)
	}
	runSteps(t, c, []step{{"ETRN hamap.local", "502 5.7.0 Sorry, we do not allow this operation"}})
	c.cmd("QUIT")
	if called {
		t.Error("hook called for a refused ETRN")
	}
	if log := e.log.String(); !strings.Contains(log, ": [127.0.0.20]: ETRN hamap.local [rejected]\n") {
		t.Errorf("no [rejected] line:\n%s", log)
	}
}

// TestETRNAttack: the eighth ETRN of a session is logged as a possible
// attack (MAXETRNCOMMANDS).
func TestETRNAttack(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.dial(t, trustedIP)
	c.reply()
	c.cmd("EHLO x")
	for range 8 {
		c.cmd("ETRN hamap.local")
	}
	c.cmd("QUIT")
	if n := strings.Count(e.log.String(), "possible SMTP attack: command=ETRN, count=8"); n != 1 {
		t.Errorf("%d attack lines:\n%s", n, e.log.String())
	}
}
