// SPDX-License-Identifier: MIT

package dsn

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var masked = time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)

// original is the queued copy of the test message as the real sendmail
// returns it (Return-Path and the command-line Received prepended).
func original(rcpt, tag string) string {
	return "Return-Path: <sender@sender.example>\n" +
		"Received: (from root@localhost)\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) id QUEUEID0000000\n" +
		"\tfor " + rcpt + "; Fri, 27 Nov 2026 01:00:00 GMT\n" +
		"From: Sender <sender@sender.example>\nTo: " + rcpt + "\nSubject: test " + tag + "\n" +
		"Message-ID: <" + tag + "@sender.example>\nDate: Fri, 27 Nov 2026 01:00:00 +0000\n\n" +
		"Hello " + rcpt + ".\nSecond line.\n"
}

func report(kind Kind, rcpt, tag, envid string, hdrs bool, reply string) *Report {
	r := &Report{
		Kind: kind, Hostname: "mail.hamap.local", Version: "8.17.1.9/8.17.1.9",
		QueueID: "QUEUEID0000000", To: "sender@sender.example",
		Now: masked, Arrival: masked, ReceivedFrom: "root@localhost", EnvID: envid,
		HeadersOnly: hdrs, Original: strings.NewReader(original(rcpt, tag)),
		WarnAfter: time.Second, ReturnAfter: 5 * 24 * time.Hour,
	}
	rc := Recipient{Addr: rcpt, Action: "failed", Status: reply[4:9], RemoteMTA: "[127.0.0.13]",
		Diagnostic: reply, LastAttempt: masked}
	tr := "... while talking to [127.0.0.13]:\n>>> DATA\n<<< " + reply + "\n"
	if kind == Delay {
		rc.Action = "delayed"
		tr += rcpt + "... Deferred: " + reply + "\n"
	} else {
		tr += "550 5.1.1 " + rcpt + "... User unknown\n"
	}
	tr += "<<< 502 5.5.1 Missing RCPT TO command.\n"
	r.Transcript = tr
	r.Recipients = []Recipient{rc}
	return r
}

// TestGolden writes the three notifications the real sendmail wrote in
// oracle_test.go's run and compares them byte for byte (dates, queue ids
// and the boundary's time masked the same way).
func TestGolden(t *testing.T) {
	for _, tc := range append(goldenCases(), receiptCases()...) {
		t.Run(tc.name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "real-"+tc.name+".eml"))
			if err != nil {
				t.Fatal(err)
			}
			compare(t, want, tc.r)
		})
	}
}

type goldenCase struct {
	name string
	r    *Report
}

// goldenCases are the reports of the three messages oracle_test.go has
// the real sendmail notify about.
func goldenCases() []goldenCase {
	return []goldenCase{
		{"bounce", report(Failure, "bad@outside.example", "bounce", "envid-bounce", false,
			"550 5.1.1 <bad@outside.example>: Recipient address rejected: User unknown")},
		{"bounce-hdrs", report(Failure, "bad2@outside.example", "hdrs", "", true,
			"550 5.1.1 <bad2@outside.example>: Recipient address rejected: User unknown")},
		{"warning", report(Delay, "slow@outside.example", "warn", "", false,
			"451 4.3.0 <slow@outside.example>: Temporary lookup failure")},
		{"return", returned()},
		{"bounce-local", local("ghost", "ghost", Recipient{Addr: "ghost", Final: "ghost@mail.hamap.local", Action: "failed",
			Status: "5.1.1", Diagnostic: "550 5.1.1 User unknown", DiagnosticType: "X-Unix", LastAttempt: masked},
			"550 5.1.1 ghost... User unknown\n")},
		{"bounce-prog", local("broken", "prog", Recipient{Addr: `"|/bin/false"`, Final: "broken@mail.hamap.local",
			Actual: "|/bin/false", ActualType: "X-Unix", ExpandedFrom: "broken", Action: "failed", Status: "5.0.0",
			Diagnostic: "1", DiagnosticType: "X-Unix", LastAttempt: masked},
			"554 5.3.0 unknown mailer error 1\n")},
	}
}

// receiptCases are the return receipts of receipt_oracle_test.go's
// scenario: a local mailbox, a |program alias and a /file alias (all
// "delivered (to mailbox)"), and a relay to a server without DSN.
func receiptCases() []goldenCase {
	orig := func(rcpt, tag string) string {
		return "Return-Path: <sender@sender.example>\n" +
			"Received: from client.example (root@localhost)\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) with ESMTP id QUEUEID0000000\n" +
			"\tfor <" + rcpt + ">; Fri, 27 Nov 2026 01:00:00 GMT\n" +
			"Date: Fri, 27 Nov 2026 01:00:00 GMT\nFrom: sender@sender.example\nSubject: test " + tag + "\n" +
			"Message-ID: <" + tag + "@sender.example>\n\nHello.\n"
	}
	receipt := func(rcpt, tag, envid, transcript string, rcs ...Recipient) *Report {
		for i := range rcs {
			rcs[i].LastAttempt = masked
		}
		o := orig(rcpt, tag)
		if rcpt == "" {
			// Two recipients: no "for" in the Received line.
			o = strings.Replace(o, " id QUEUEID0000000\n\tfor <>; ", " id QUEUEID0000000;\n\t", 1)
		}
		return &Report{
			Kind: Receipt, Hostname: "mail.hamap.local", Version: "8.17.1.9/8.17.1.9",
			QueueID: "QUEUEID0000000", To: "<sender@sender.example>",
			Now: masked, Arrival: masked, ReceivedFrom: "root@localhost", EnvID: envid,
			Original: strings.NewReader(o), Transcript: transcript,
			Recipients: rcs,
		}
	}
	const delivered = "delivered (to mailbox)"
	nobody := Recipient{Addr: "<nobody@mail.hamap.local>", Final: "nobody@mail.hamap.local", Action: delivered, Status: "2.1.5"}
	mixfail := receipt("", "mixfail", "", "<nobody@mail.hamap.local>... Successfully delivered\n554 5.3.0 unknown mailer error 1\n",
		nobody, Recipient{Addr: `"|/bin/false"`, Final: "broken@mail.hamap.local", Actual: "|/bin/false", ActualType: "X-Unix",
			ExpandedFrom: "<broken@mail.hamap.local>", Action: "failed", Status: "5.0.0", Diagnostic: "1", DiagnosticType: "X-Unix"})
	mixfail.Kind = Failure
	expand := receipt("team@mail.hamap.local", "expand", "", "<team@mail.hamap.local>... expanded to multiple addresses\n"+
		"daemon... Successfully delivered\nnobody... Successfully delivered\n")
	return []goldenCase{
		// An alias of one local user: listed under that user's name.
		{"receipt-single", receipt("single@mail.hamap.local", "single", "", "nobody... Successfully delivered\n",
			Recipient{Addr: "nobody", ExpandedFrom: "<single@mail.hamap.local>", Final: "single@mail.hamap.local",
				Actual: "nobody@mail.hamap.local", Action: delivered, Status: "2.1.5"})},
		// An alias of two local users: sendmail lists no recipient,
		// only the transcript names them.
		{"receipt-expand", expand},
		// A failure and a success: the bounce lists both.
		{"receipt-mixfail", mixfail},
		// A success while another recipient is deferred: the receipt
		// goes at once, with the whole attempt's transcript.
		{"receipt-mixdefer", receipt("", "mixdefer", "", "<nobody@mail.hamap.local>... Successfully delivered\n"+
			"\"|/bin/sh -c 'exit 75'\"... Deferred: prog mailer (/bin/sh) exited with EX_TEMPFAIL\n", nobody)},
		{"receipt-local", receipt("nobody@mail.hamap.local", "local", Unxtext("env+2Blocal"),
			"<nobody@mail.hamap.local>... Successfully delivered\n",
			Recipient{Addr: "<nobody@mail.hamap.local>", Final: "nobody@mail.hamap.local", Original: Unxtext("rfc822;nobody+2Bo@mail.hamap.local"),
				Action: delivered, Status: "2.1.5"})},
		{"receipt-prog", receipt("prog@mail.hamap.local", "prog", "env-prog",
			"\"|/bin/cat >/dev/null\"... Successfully delivered\n",
			Recipient{Addr: "\"|/bin/cat >/dev/null\"", Final: "prog@mail.hamap.local", Actual: "|/bin/cat >/dev/null", ActualType: "X-Unix",
				ExpandedFrom: "<prog@mail.hamap.local>", Action: delivered, Status: "2.1.5"})},
		{"receipt-file", receipt("filer@mail.hamap.local", "file", "",
			"/WORK/file.out... Successfully delivered\n",
			Recipient{Addr: "/WORK/file.out", Final: "filer@mail.hamap.local", Actual: "/WORK/file.out", ActualType: "X-Unix",
				ExpandedFrom: "<filer@mail.hamap.local>", Action: delivered, Status: "2.1.5"})},
		{"receipt-plain", receipt("friend@plain.example", "plain", "env-plain",
			"<friend@plain.example>... relayed; expect no further notifications\n",
			Recipient{Addr: "<friend@plain.example>", Final: "friend@plain.example", Action: "relayed (to non-DSN-aware mailer)", Status: "2.0.0",
				RemoteMTA: "[127.0.0.13]", Diagnostic: "250 2.0.0 I'll make sure <friend@plain.example> gets this"})},
	}
}

// returned is the bounce at Timeout.queuereturn (1s in the oracle run)
// of the message the warning was about.
func returned() *Report {
	r := report(Failure, "slow@outside.example", "warn", "", false, "451 4.3.0 <slow@outside.example>: Temporary lookup failure")
	r.ReturnAfter = time.Second
	r.Recipients[0].Status = "4.4.7"
	r.Transcript = "... while talking to [127.0.0.13]:\n>>> DATA\n<<< 451 4.3.0 <slow@outside.example>: Temporary lookup failure\n" +
		"slow@outside.example... Deferred: 451 4.3.0 <slow@outside.example>: Temporary lookup failure\n" +
		"<<< 502 5.5.1 Missing RCPT TO command.\nMessage could not be delivered for 1 second\nMessage will be deleted from queue\n"
	return r
}

// local is a bounce of a local failure: no remote MTA, sendmail's own
// status or the mailer's exit code as the diagnostic.
func local(rcpt, tag string, rc Recipient, transcript string) *Report {
	r := report(Failure, rcpt, tag, "", false, "550 5.1.1 x")
	r.Recipients = []Recipient{rc}
	r.Transcript = transcript
	return r
}

// compare checks that r writes want (the real sendmail's notification,
// masked, CRLF or LF) line for line.
func compare(t *testing.T, want []byte, r *Report) {
	t.Helper()
	want = bytes.ReplaceAll(want, []byte("\r\n"), []byte("\n"))
	var got bytes.Buffer
	if err := r.Write(&got); err != nil {
		t.Fatal(err)
	}
	g := strings.ReplaceAll(got.String(), r.Boundary(), "QUEUEID0000000.1000000000/mail.hamap.local")
	if d := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(g, "\n")); d != "" {
		t.Errorf("notification differs from the real sendmail's (-want +got):\n%s", d)
	}
}

func TestReturnTo(t *testing.T) {
	tests := []struct {
		name, sender, db string
		double           bool
		want             string
		ok               bool
	}{
		{"sender", "<a@hamap.local>", "postmaster", false, "a@hamap.local", true},
		{"null sender goes to postmaster", "<>", "postmaster", false, "postmaster", true},
		{"mailer-daemon", "MAILER-DAEMON@mail.hamap.local", "postmaster", false, "postmaster", true},
		{"no double bounce address", "", "", false, "", false},
		{"double bounce is dropped", "", "postmaster", true, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ReturnTo(tc.sender, tc.db, tc.double)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ReturnTo(%q, %q, %v) = %q, %v; want %q, %v", tc.sender, tc.db, tc.double, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestInterval(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second: "1 second", 4 * time.Hour: "4 hours", 5 * 24 * time.Hour: "5 days",
		90 * time.Minute: "1 hour, 30 minutes", 0: "0 seconds",
	} {
		t.Run(want, func(t *testing.T) {
			if got := Interval(d); got != want {
				t.Errorf("Interval(%v) = %q, want %q", d, got, want)
			}
		})
	}
}

func TestUnxtext(t *testing.T) {
	for in, want := range map[string]string{
		"env+2Blocal":                        "env+local",
		"rfc822;nobody+2Bo@mail.hamap.local": "rfc822;nobody+o@mail.hamap.local",
		"plain":                              "plain",
		"a+3Db+3db":                          "a=b=b",
		"trail+":                             "trail+",
		"trail+4":                            "trail+4",
		"bad+ZZ":                             "bad+ZZ",
	} {
		if got := Unxtext(in); got != want {
			t.Errorf("Unxtext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidXtext(t *testing.T) {
	for in, want := range map[string]bool{"ok+2B": true, "ok+2b": true, "": true, "a=b": false, "sp ace": false, "+4": false, "+ZZ": false, "\x7f": false} {
		if got := ValidXtext(in); got != want {
			t.Errorf("ValidXtext(%q) = %v, want %v", in, got, want)
		}
	}
}

// FuzzUnxtext: decoding never grows the text, and text without a "+"
// is its own decoding.
func FuzzUnxtext(f *testing.F) {
	for _, s := range []string{"env+2Blocal", "+", "+2", "+2B", "a+zz+41", "plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Unxtext(s)
		if len(got) > len(s) {
			t.Fatalf("Unxtext(%q) = %q is longer", s, got)
		}
		if !strings.Contains(s, "+") && got != s {
			t.Fatalf("Unxtext(%q) = %q", s, got)
		}
		if ValidXtext(s) && len(s)-len(got) != 2*strings.Count(s, "+") {
			t.Fatalf("Unxtext(%q) = %q: not every +XX decoded", s, got)
		}
	})
}
