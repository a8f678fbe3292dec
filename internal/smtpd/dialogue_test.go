// SPDX-License-Identifier: MIT

package smtpd

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var dateRe = regexp.MustCompile(`[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT`)

// step is one exchange: a command (sent as is, with CRLF added) and the
// reply lines expected.
type step struct{ cmd, want string }

func runSteps(t *testing.T, c *client, steps []step) {
	t.Helper()
	for _, s := range steps {
		got := c.cmd(s.cmd)
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%q: reply mismatch (-want +got):\n%s", s.cmd, diff)
		}
	}
}

func TestGreetingAndEHLO(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.dial(t, trustedIP)
	banner := c.reply()
	if got := dateRe.ReplaceAllString(banner, "<date>"); got != "220 mail.hamap.local ESMTP Sendmail 8.17.1.9/8.17.1.9; <date>" {
		t.Errorf("banner = %q", banner)
	}
	runSteps(t, c, []step{
		{"EHLO [127.0.0.20]", strings.Join([]string{
			"250-mail.hamap.local Hello [127.0.0.20], pleased to meet you",
			"250-ENHANCEDSTATUSCODES",
			"250-PIPELINING",
			"250-8BITMIME",
			"250-SIZE",
			"250-DSN",
			"250-ETRN",
			"250-DELIVERBY",
			"250 HELP",
		}, "\n")},
		{"HELO somepc", "250 mail.hamap.local Hello [127.0.0.20], pleased to meet you"},
		{"QUIT", "221 2.0.0 mail.hamap.local closing connection"},
	})
}

func TestNamedClientHello(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.dial(t, hamapIP)
	c.reply()
	runSteps(t, c, []step{
		{"HELO x", "250 mail.hamap.local Hello pc7.hamap.local [127.1.0.7], pleased to meet you"},
	})
}

// TestAnchorTransaction is §3.2 of the anchor reference: a → b from the
// trusted PC, accepted into the spool.
func TestAnchorTransaction(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.dial(t, trustedIP)
	c.reply()
	runSteps(t, c, []step{
		{"EHLO [127.0.0.20]", ""},
	}[:0])
	c.cmd("EHLO [127.0.0.20]")
	runSteps(t, c, []step{
		{"MAIL FROM:<a@hamap.local>", "250 2.1.0 <a@hamap.local>... Sender ok"},
		{"RCPT TO:<b@hamap.local>", "250 2.1.5 <b@hamap.local>... Recipient ok"},
		{"DATA", "354 End data with <CR><LF>.<CR><LF>"},
	})
	c.send("Message-ID: <m1@hamap.local>\r\nSubject: hi\r\n\r\nHello,\r\n..dot\r\nFrom x\r\n.\r\n")
	got := c.reply()
	m := regexp.MustCompile(`^250 2\.0\.0 (\S{14}) Message accepted for delivery$`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("DATA end reply = %q", got)
	}
	runSteps(t, c, []step{{"QUIT", "221 2.0.0 mail.hamap.local closing connection"}})
	msgs := e.spool.Messages()
	if len(msgs) != 1 {
		t.Fatalf("spool holds %d messages, want 1", len(msgs))
	}
	wantData := "Message-ID: <m1@hamap.local>\r\nSubject: hi\r\n\r\nHello,\r\n.dot\r\nFrom x\r\n"
	if diff := cmp.Diff(wantData, string(msgs[0].Data)); diff != "" {
		t.Errorf("spooled data (-want +got):\n%s", diff)
	}
	env := msgs[0].Env
	if env.ID != m[1] || env.From != "a@hamap.local" || len(env.Rcpts) != 1 || !env.Rcpts[0].Local || env.Rcpts[0].User != "b" {
		t.Errorf("envelope = %+v", env)
	}
	logs := e.log.String()
	wantLog := m[1] + ": from=<a@hamap.local>, size=61, class=0, nrcpts=1, msgid=<m1@hamap.local>, proto=ESMTP, daemon=MTA, relay=[127.0.0.20]"
	if !strings.Contains(logs, wantLog) {
		t.Errorf("log lacks %q:\n%s", wantLog, logs)
	}
}

// TestRefusalTable is the refusal table of anchor-behaviour.md §3.3.
func TestRefusalTable(t *testing.T) {
	e := newEnv(t, envOpts{})
	cases := []struct {
		name  string
		src   string
		setup []string
		cmd   string
		want  string
	}{
		{"relay unnamed", untrustedIP, []string{"MAIL FROM:<a@hamap.local>"}, "RCPT TO:<friend@outside.example>",
			"550 5.7.1 <friend@outside.example>... Relaying denied. IP name lookup failed [127.1.0.5]"},
		{"relay named", namedIP, []string{"MAIL FROM:<a@hamap.local>"}, "RCPT TO:<friend@outside.example>",
			"550 5.7.1 <friend@outside.example>... Relaying denied"},
		{"relay forged", forgedIP, []string{"MAIL FROM:<a@hamap.local>"}, "RCPT TO:<friend@outside.example>",
			"550 5.7.1 <friend@outside.example>... Relaying denied. IP name possibly forged [127.1.0.11]"},
		{"relay hamap name", hamapIP, []string{"MAIL FROM:<a@hamap.local>"}, "RCPT TO:<friend@outside.example>",
			"250 2.1.5 <friend@outside.example>... Recipient ok"},
		{"unknown user", trustedIP, []string{"MAIL FROM:<a@hamap.local>"}, "RCPT TO:<nosuchuser@hamap.local>",
			"550 5.1.1 <nosuchuser@hamap.local>... User unknown"},
		{"unqualified sender", trustedIP, nil, "MAIL FROM:<a>", "553 5.5.4 <a>... Domain name required for sender address a"},
		{"double dot", trustedIP, nil, "MAIL FROM:<a@hamap..local>", "553 5.1.2 <a@hamap..local>... Invalid host name"},
		{"at only", trustedIP, nil, "MAIL FROM:<@>", "553 5.1.3 <@>... List:; syntax illegal for recipient addresses"},
		{"no host", trustedIP, nil, "MAIL FROM:<a@>", "553 5.1.3 <a@>... Hostname required"},
		{"unbalanced", trustedIP, nil, "MAIL FROM:<a@hamap.local", "553 5.0.0 <a@hamap.local... Unbalanced '<'"},
		{"unknown param", trustedIP, nil, "MAIL FROM:<a@hamap.local> FOO=BAR", "555 5.5.4 FOO parameter unrecognized"},
		{"mail to", trustedIP, nil, "MAIL TO:<a@hamap.local>", "501 5.5.2 Syntax error in parameters scanning \"TO\""},
		{"second mail", trustedIP, []string{"MAIL FROM:<a@hamap.local>"}, "MAIL FROM:<a@hamap.local>", "503 5.5.0 Sender already specified"},
		{"rcpt first", trustedIP, nil, "RCPT TO:<b@hamap.local>", "503 5.0.0 Need MAIL before RCPT"},
		{"data first", trustedIP, nil, "DATA", "503 5.0.0 Need MAIL command"},
		{"data no rcpt", trustedIP, []string{"MAIL FROM:<a@hamap.local>"}, "DATA", "503 5.0.0 Need RCPT (recipient)"},
		{"double at", trustedIP, []string{"MAIL FROM:<a@hamap.local>"}, "RCPT TO:<a@@hamap.local>", "553 5.1.3 <a@@hamap.local>... Invalid route address"},
		{"helo noarg", trustedIP, nil, "HELO", "501 5.0.0 HELO requires domain address"},
		{"ehlo noarg", trustedIP, nil, "EHLO", "501 5.0.0 EHLO requires domain address"},
		{"vrfy", trustedIP, nil, "VRFY b", "252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)"},
		{"expn", trustedIP, nil, "EXPN postmaster", "502 5.7.0 Sorry, we do not allow this operation"},
		{"unknown command", trustedIP, nil, "FOO bar", "500 5.5.1 Command unrecognized: \"FOO bar\""},
		{"noop", trustedIP, nil, "NOOP", "250 2.0.0 OK"},
		{"rset", trustedIP, nil, "RSET", "250 2.0.0 Reset state"},
		{"etrn", trustedIP, nil, "ETRN hamap.local", "250 2.0.0 Queuing for node hamap.local started"},
		{"null sender", trustedIP, nil, "MAIL FROM:<>", "250 2.1.0 <>... Sender ok"},
		{"literal sender", trustedIP, nil, "MAIL FROM:<a@[1.2.3]>", "250 2.1.0 <a@[1.2.3]>... Sender ok"},
		{"bare sender", trustedIP, nil, "MAIL FROM:a@hamap.local", "250 2.1.0 a@hamap.local... Sender ok"},
		{"blank in local", trustedIP, nil, "MAIL FROM:<a b@hamap.local>", "250 2.1.0 <a b@hamap.local>... Sender ok"},
		{"unresolvable", trustedIP, nil, "MAIL FROM:<a@nowhere.invalid>", "250 2.1.0 <a@nowhere.invalid>... Sender ok"},
		{"unqualified rcpt", trustedIP, []string{"MAIL FROM:<a@hamap.local>"}, "RCPT TO:<b>", "250 2.1.5 <b>... Recipient ok"},
		{"upper rcpt", trustedIP, []string{"MAIL FROM:<a@hamap.local>"}, "RCPT TO:<B@HAMAP.LOCAL>", "250 2.1.5 <B@HAMAP.LOCAL>... Recipient ok"},
		{"literal rcpt", trustedIP, []string{"MAIL FROM:<a@hamap.local>"}, "RCPT TO:<b@[127.0.0.13]>", "250 2.1.5 <b@[127.0.0.13]>... Recipient ok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t, tc.src)
			c.reply()
			c.cmd("EHLO test")
			for _, s := range tc.setup {
				if r := c.cmd(s); !strings.HasPrefix(r, "250") {
					t.Fatalf("setup %q: %q", s, r)
				}
			}
			if got := c.cmd(tc.cmd); got != tc.want {
				t.Errorf("%s\n got %q\nwant %q", tc.cmd, got, tc.want)
			}
		})
	}
}
