// SPDX-License-Identifier: MIT

package remote

import (
	"bufio"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil/dnstest"
)

// rawSink is a hand-written SMTP server that offers only what ehlo
// lists (go-smtp's server always offers 8BITMIME), records the commands
// and the data, and can stay silent to test timeouts.
type rawSink struct {
	mu     sync.Mutex
	cmds   []string
	data   []string
	ehlo   []string
	silent bool
}

func startRaw(t *testing.T, ip string, port int, r *rawSink) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Skipf("listen on %s: %v", ip, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
}

func (r *rawSink) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if r.silent {
		io.Copy(io.Discard, c)
		return
	}
	br := bufio.NewReader(c)
	io.WriteString(c, "220 raw.test ESMTP\r\n")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		r.mu.Lock()
		r.cmds = append(r.cmds, line)
		r.mu.Unlock()
		verb := strings.ToUpper(strings.Fields(line + " ")[0])
		switch verb {
		case "EHLO":
			io.WriteString(c, multiline(250, strings.Join(append([]string{"raw.test"}, r.ehlo...), "\n")))
		case "DATA":
			io.WriteString(c, "354 go ahead\r\n")
			var b strings.Builder
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			r.mu.Lock()
			r.data = append(r.data, b.String())
			r.mu.Unlock()
			io.WriteString(c, "250 2.0.0 Ok raw\r\n")
		case "STARTTLS":
			// A broken TLS peer: it agrees, then hangs up.
			io.WriteString(c, "220 2.0.0 Ready to start TLS\r\n")
			return
		case "QUIT":
			io.WriteString(c, "221 2.0.0 Bye\r\n")
			return
		default:
			io.WriteString(c, "250 2.0.0 Ok\r\n")
		}
	}
}

const mime8 = "From: a@hamap.local\nTo: r@raw.test\nMIME-Version: 1.0\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\n\n" +
	"preamble\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
	"Grüße aus Köln\nzweite Zeile\n--b1\nContent-Type: text/plain\n\nplain ascii\n--b1--\n"

// startRawPort is startRaw on any port, returning it.
func startRawPort(t *testing.T, ip string, r *rawSink) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("listen on %s: %v", ip, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	startRaw(t, ip, port, r)
	return port
}

func TestDeliverWithout8BitMIME(t *testing.T) {
	dns := dnstest.New(t)
	raw := &rawSink{ehlo: []string{"SIZE 1000000", "DSN", "ENHANCEDSTATUSCODES"}}
	port := startRawPort(t, "127.0.0.25", raw)
	dns.AddA("raw.test", "127.0.0.25")
	c := &Courier{Resolver: dns.Resolver(), HeloName: "mail.hamap.local", Port: port,
		LocalAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	msg := &Message{From: "a@hamap.local", Domain: "raw.test", EightBit: true, Size: int64(len(mime8)),
		Ret: smtp.DSNReturnHeaders, EnvID: "env+2B1",
		Rcpts: []Rcpt{{Addr: "r@raw.test", Notify: []smtp.DSNNotify{smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed}, ORCPT: "rfc822;orig@raw.test"}},
		Open:  func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(mime8)), nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := c.Deliver(ctx, msg)
	if d := cmp.Diff([]outcome{{"r@raw.test", "Sent (Ok raw)", "2.0.0", "raw.test. [127.0.0.25]", 0}}, outcomes(res)); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	raw.mu.Lock()
	defer raw.mu.Unlock()
	wantCmds := []string{
		"EHLO mail.hamap.local",
		// Sendmail's spelling and order; ENVID and ORCPT go out as
		// they were received and queued (xtext).
		"MAIL From:<a@hamap.local> SIZE=" + strconv.Itoa(len(mime8)) + " ENVID=env+2B1 RET=HDRS",
		"RCPT To:<r@raw.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;orig@raw.test",
		"DATA", "QUIT",
	}
	if d := cmp.Diff(wantCmds, raw.cmds); d != "" {
		t.Errorf("commands (-want +got):\n%s", d)
	}
	if len(raw.data) != 1 {
		t.Fatalf("sink got %d messages", len(raw.data))
	}
	got := raw.data[0]
	for _, c := range []byte(got) {
		if c >= 0x80 {
			t.Fatalf("8-bit byte sent to a peer without 8BITMIME:\n%s", got)
		}
	}
	// Decoded, the parts say what they said.
	m, err := mail.ReadMessage(strings.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	mr := multipart.NewReader(m.Body, params["boundary"])
	var texts, ctes []string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		cte := p.Header.Get("Content-Transfer-Encoding")
		var r io.Reader = p
		if cte == "quoted-printable" {
			r = quotedprintable.NewReader(p)
		}
		b, _ := io.ReadAll(r)
		texts, ctes = append(texts, strings.ReplaceAll(string(b), "\r\n", "\n")), append(ctes, cte)
	}
	if d := cmp.Diff([]string{"Grüße aus Köln\nzweite Zeile", "plain ascii"}, texts); d != "" {
		t.Errorf("decoded parts (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"quoted-printable", ""}, ctes); d != "" {
		t.Errorf("encodings (-want +got):\n%s", d)
	}
}

// TestSentWithoutEnhancedCodes: a server that does not offer
// ENHANCEDSTATUSCODES keeps its whole reply in stat= (the anchor's sink:
// "stat=Sent (2.0.0 Ok: queued as sink-1)").
func TestSentWithoutEnhancedCodes(t *testing.T) {
	dns := dnstest.New(t)
	raw := &rawSink{}
	port := startRawPort(t, "127.0.0.27", raw)
	c := &Courier{Resolver: dns.Resolver(), HeloName: "mail.hamap.local", Port: port, SmartHost: "[127.0.0.27]"}
	res := c.Deliver(context.Background(), newMsg("outside.example", "friend@outside.example"))
	if d := cmp.Diff([]outcome{{"friend@outside.example", "Sent (2.0.0 Ok raw)", "2.0.0", "[127.0.0.27] [127.0.0.27]", 0}}, outcomes(res)); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	raw.mu.Lock()
	defer raw.mu.Unlock()
	if d := cmp.Diff([]string{"EHLO mail.hamap.local", "MAIL From:<a@hamap.local>", "RCPT To:<friend@outside.example>", "DATA", "QUIT"}, raw.cmds); d != "" {
		t.Errorf("commands (-want +got):\n%s", d)
	}
}

// TestBrokenStartTLS: a STARTTLS that fails is retried without TLS.
func TestBrokenStartTLS(t *testing.T) {
	dns := dnstest.New(t)
	raw := &rawSink{ehlo: []string{"STARTTLS"}}
	port := startRawPort(t, "127.0.0.28", raw)
	c := &Courier{Resolver: dns.Resolver(), HeloName: "mail.hamap.local", Port: port, SmartHost: "[127.0.0.28]"}
	res := c.Deliver(context.Background(), newMsg("outside.example", "friend@outside.example"))
	if d := cmp.Diff([]outcome{{"friend@outside.example", "Sent (2.0.0 Ok raw)", "2.0.0", "[127.0.0.28] [127.0.0.28]", 0}}, outcomes(res)); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	raw.mu.Lock()
	cmds := raw.cmds
	raw.mu.Unlock()
	want := []string{"EHLO mail.hamap.local", "STARTTLS", "EHLO mail.hamap.local", "MAIL From:<a@hamap.local>", "RCPT To:<friend@outside.example>", "DATA", "QUIT"}
	if d := cmp.Diff(want, cmds); d != "" {
		t.Errorf("commands (-want +got):\n%s", d)
	}
	c.VerifyTLS = true
	res = c.Deliver(context.Background(), newMsg("outside.example", "friend@outside.example"))
	if len(res) != 1 || !res[0].Temporary() {
		t.Errorf("with verification required, a failed STARTTLS gave %+v, want a deferral", res)
	}
}

func TestDeliverGreetingTimeout(t *testing.T) {
	dns := dnstest.New(t)
	raw := &rawSink{silent: true}
	port := startRawPort(t, "127.0.0.26", raw)
	dns.AddA("quiet.test", "127.0.0.26")
	c := &Courier{Resolver: dns.Resolver(), HeloName: "mail.hamap.local", Port: port}
	c.Timeouts.Initial = 300 * time.Millisecond
	start := time.Now()
	res := c.Deliver(context.Background(), newMsg("quiet.test", "q@quiet.test"))
	if d := cmp.Diff([]outcome{{"q@quiet.test", "Deferred: Connection timed out with quiet.test.", "4.4.2", "quiet.test. [127.0.0.26]", 75}}, outcomes(res)); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v; Timeout.initial is 300ms", el)
	}
}

func TestTo7Bit(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no mime passes", "Subject: x\n\nK\xc3\xb6ln\n", "Subject: x\n\nK\xc3\xb6ln\n"},
		{"7bit untouched", "MIME-Version: 1.0\nContent-Type: text/plain\n\nascii\n", "MIME-Version: 1.0\nContent-Type: text/plain\n\nascii\n"},
		{"8bit single part", "MIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\nContent-Type: text/plain\n\nK\xc3\xb6ln\n",
			"MIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\nContent-Type: text/plain\n\nK=C3=B6ln\n"},
		{"missing cte", "MIME-Version: 1.0\n\n\xe9=\n", "MIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n\n=E9=3D\n"},
		{"crlf", "MIME-Version: 1.0\r\n\r\n\xe9\r\n", "MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E9\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := To7Bit(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r)
			if d := cmp.Diff(tc.want, string(got)); d != "" {
				t.Errorf("To7Bit (-want +got):\n%s", d)
			}
		})
	}
}

// TestBodyParameter: BODY= goes to a server that offers 8BITMIME as the
// client declared it (7BIT too, as sendmail passes a declared body type
// on), and not at all for a message that declared none.
func TestBodyParameter(t *testing.T) {
	for _, tc := range []struct {
		body  string
		eight bool
		want  string
	}{
		{"7BIT", false, "MAIL From:<a@hamap.local> BODY=7BIT"},
		{"8BITMIME", true, "MAIL From:<a@hamap.local> BODY=8BITMIME"},
		{"", false, "MAIL From:<a@hamap.local>"},
	} {
		raw := &rawSink{ehlo: []string{"8BITMIME"}}
		port := startRawPort(t, "127.0.0.27", raw)
		c := &Courier{HeloName: "mail.hamap.local", Port: port, SmartHost: "[127.0.0.27]"}
		msg := newMsg("outside.example", "friend@outside.example")
		msg.BodyType, msg.EightBit = tc.body, tc.eight
		if res := c.Deliver(context.Background(), msg); len(res) != 1 || res[0].Code != 0 {
			t.Fatalf("BODY %q: %+v", tc.body, res)
		}
		raw.mu.Lock()
		if len(raw.cmds) < 2 || raw.cmds[1] != tc.want {
			t.Errorf("BODY %q: commands %q, want %q second", tc.body, raw.cmds, tc.want)
		}
		raw.mu.Unlock()
	}
}
