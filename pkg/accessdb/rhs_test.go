// SPDX-License-Identifier: MIT

package accessdb

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRHS(t *testing.T) {
	tests := []struct {
		value string
		want  RHS
	}{
		{"OK", RHS{Kind: OK}},
		{"ok", RHS{Kind: OK}},
		{"ReLaY", RHS{Kind: Relay}},
		{"REJECT   ", RHS{Kind: Reject}},
		{"\treject", RHS{Kind: Reject}},
		{"DISCARD", RHS{Kind: Discard}},
		{"SKIP", RHS{Kind: Skip}},
		{"FRIEND", RHS{Kind: Friend}},
		{"hater", RHS{Kind: Hater}},
		{"", RHS{Kind: Empty}},
		{"   ", RHS{Kind: Empty}},
		{"QUARANTINE:held for review", RHS{Kind: Quarantine, Text: "held for review"}},
		{"quarantine: spam   suspect", RHS{Kind: Quarantine, Text: "spam suspect"}},
		{"QUARANTINE:", RHS{Kind: Text, Text: "QUARANTINE:"}},
		{"ERROR:550 Go away", RHS{Kind: Error, Text: "550 Go away"}},
		{"error:550 5.7.1 Go away", RHS{Kind: Error, Text: "550 5.7.1 Go away"}},
		{"ERROR:5.7.1:550 Access denied by policy", RHS{Kind: Error, DSN: "5.7.1", Text: "550 Access denied by policy"}},
		{"ERROR:4.7.1:451 try later", RHS{Kind: Error, DSN: "4.7.1", Text: "451 try later"}},
		{`ERROR:"550 We don't accept mail from spammers"`, RHS{Kind: Error, Text: `"550 We don't accept mail from spammers"`}},
		{"ERROR:550 We dont   accept   <mail> from you", RHS{Kind: Error, Text: "550 We dont accept<mail>from you"}},
		{"ERROR:5.7.1:", RHS{Kind: Error, Text: "5.7.1:"}},
		{"TEMPFAIL", RHS{Kind: Text, Text: "TEMPFAIL"}},
		{"OK # comment", RHS{Kind: Text, Text: "OK # comment"}},
		{"550 We don't accept mail from spammers", RHS{Kind: Text, Text: "550 We don't accept mail from spammers"}},
		{"OK OK", RHS{Kind: Text, Text: "OK OK"}},
		{`"OK"`, RHS{Kind: Text, Text: `"OK"`}},
		{"2000", RHS{Kind: Text, Text: "2000"}},
		{"foo<TMPF>", RHS{Kind: TempFail}},
		{"Connect:1.2.3 < tmpf >", RHS{Kind: TempFail}},
		{"value with trailing spaces   ", RHS{Kind: Text, Text: "value with trailing spaces"}},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			tt.want.Value = tt.value
			if diff := cmp.Diff(tt.want, ParseRHS(tt.value)); diff != "" {
				t.Errorf("ParseRHS(%q) (-want +got):\n%s", tt.value, diff)
			}
		})
	}
}

func TestNumber(t *testing.T) {
	for _, tt := range []struct {
		v  string
		n  int
		ok bool
	}{{"2000", 2000, true}, {" 0 ", 0, true}, {"10", 10, true}, {"-1", 0, false}, {"+5", 0, false}, {"5 s", 0, false}, {"", 0, false}, {"x", 0, false}} {
		n, ok := ParseRHS(tt.v).Number()
		if n != tt.n || ok != tt.ok {
			t.Errorf("Number(%q) = %d %v, want %d %v", tt.v, n, ok, tt.n, tt.ok)
		}
	}
}

// TestReply pins the reply texts of §4 and §5 of the reference.
func TestReply(t *testing.T) {
	tests := []struct {
		name  string
		check Check
		value string
		to    string
		want  string // "" for no refusal
	}{
		{"connect REJECT", CheckRelay, "REJECT", "", "550 5.7.1 Access denied"},
		{"connect REJECT delayed to RCPT", CheckRelay, "REJECT", "<root@hamap.local>", "550 5.7.1 <root@hamap.local>... Access denied"},
		{"connect ERROR code only", CheckRelay, "ERROR:550 Your network is blocked", "", "550 5.0.0 Your network is blocked"},
		{"connect ERROR with DSN in text", CheckRelay, "ERROR:550 5.7.1 Your network is blocked", "", "550 5.7.1 Your network is blocked"},
		{"connect ERROR dsn form", CheckRelay, "ERROR:5.7.1:550 Your network is blocked", "", "550 5.7.1 Your network is blocked"},
		{"connect ERROR 421", CheckRelay, `ERROR:"421 4.3.2 closing, go away"`, "", "421 4.3.2 closing, go away"},
		{"connect 421 at RCPT has no prefix", CheckRelay, `ERROR:"421 4.3.2 closing, go away"`, "<a@b>", "421 4.3.2 closing, go away"},
		{"connect TEMPFAIL is text", CheckRelay, "TEMPFAIL", "", "553 5.3.0 TEMPFAIL"},
		{"connect OK", CheckRelay, "OK", "", ""},
		{"connect RELAY", CheckRelay, "RELAY", "", ""},
		{"connect DISCARD", CheckRelay, "DISCARD", "", ""},
		{"connect QUARANTINE", CheckRelay, "QUARANTINE:why", "", ""},
		{"connect empty", CheckRelay, "", "", ""},
		{"mail REJECT", CheckMail, "REJECT", "<spammer@example.org>", "550 5.7.1 <spammer@example.org>... Access denied"},
		{"mail ERROR", CheckMail, "ERROR:550 text", "<s@x>", "550 5.0.0 <s@x>... text"},
		{"mail ERROR dsn", CheckMail, "ERROR:5.7.9:550 Custom sender error text", "<s@x>", "550 5.7.9 <s@x>... Custom sender error text"},
		{"mail ERROR quoted keeps spacing", CheckMail, `ERROR:"550 quoted text  with   spaces"`, "<s@x>", "550 5.0.0 <s@x>... quoted text  with   spaces"},
		{"mail ERROR unquoted angle text", CheckMail, "ERROR:550 We dont   accept   <mail> from you", "<s@x>", "550 5.0.0 <s@x>... We dont accept<mail"},
		{"mail 451 generic text has no prefix", CheckMail, "451 generic text from access map", "<s@x>", "451 4.0.0 generic text from access map"},
		{"mail TEMPFAIL", CheckMail, "TEMPFAIL", "<s@x>", "553 5.3.0 <s@x>... TEMPFAIL"},
		{"mail OK # comment", CheckMail, "OK # comment", "<addr>", "553 5.3.0 <addr>... OK # comment"},
		{"mail ERROR 4.7.1 451", CheckMail, "ERROR:4.7.1:451 text", "<s@x>", "451 4.7.1 text"},
		{"mail SKIP from F", CheckMail, "SKIP", "<s@x>", "553 5.3.0 <s@x>... SKIP"},
		{"mail FRIEND", CheckMail, "FRIEND", "<s@x>", "553 5.3.0 <s@x>... FRIEND"},
		{"mail text without blank after code", CheckMail, "ERROR:550", "<s@x>", "553 5.3.0 <s@x>... 550"},
		{"mail 450 gets the prefix", CheckMail, "ERROR:450 later", "<s@x>", "450 4.0.0 <s@x>... later"},
		{"mail text DSN wins over rule DSN", CheckMail, "ERROR:4.1.1:550 5.7.1 x", "<s@x>", "550 5.7.1 <s@x>... x"},
		{"rcpt REJECT", CheckRcpt, "REJECT", "<bad@hamap.local>", "550 5.2.1 <bad@hamap.local>... Mailbox disabled for this recipient"},
		{"rcpt SKIP is no match", CheckRcpt, "SKIP", "<r@x>", ""},
		{"rcpt ERROR", CheckRcpt, `ERROR:"550 5.1.1 User unknown"`, "<badguy@hamap.local>", "550 5.1.1 <badguy@hamap.local>... User unknown"},
		{"TMPF", CheckMail, "x<TMPF>", "<s@x>", "451 4.3.0 Temporary system failure. Please try again later."},
	}
	c := &Checker{Skip: true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.Reply(tt.check, ParseRHS(tt.value), tt.to)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("Reply(%q) = %q, %v; want %q", tt.value, got, ok, tt.want)
			}
		})
	}
}

func TestRejectMsg(t *testing.T) {
	c := &Checker{RejectMsg: `"550 5.7.1 Go away"`}
	got, _ := c.Reply(CheckRelay, ParseRHS("REJECT"), "")
	if got != "550 5.7.1 Go away" {
		t.Errorf("got %q", got)
	}
}

func TestErrorReply(t *testing.T) {
	tests := []struct{ dsn, text, to, want string }{
		{"5.7.1", "550 Relaying denied", "<user@remote.example>", "550 5.7.1 <user@remote.example>... Relaying denied"},
		{"4.1.8", "451 Domain of sender address x@foo.zz does not resolve", "<x@foo.zz>", "451 4.1.8 Domain of sender address x@foo.zz does not resolve"},
		{"5.5.4", "553 Real domain name required for sender address", "<user@localhost>", "553 5.5.4 <user@localhost>... Real domain name required for sender address"},
		{"", "252 x", "<a>", "252 2.0.0 <a>... x"},
		{"", "354 go", "<a>", "354 go"},
		{"", `\"quoted\" text`, "", `553 5.3.0 "quoted" text`},
		{"5.7", "550 bad dsn", "", "550 5.0.0 bad dsn"},
		{"5.7.1234", "550 bad dsn", "", "550 5.0.0 bad dsn"},
	}
	for _, tt := range tests {
		if got := ErrorReply(tt.dsn, tt.text, tt.to); got != tt.want {
			t.Errorf("ErrorReply(%q, %q, %q) = %q, want %q", tt.dsn, tt.text, tt.to, got, tt.want)
		}
	}
	long := "<" + repeat("a", 300) + "@x>"
	got := ErrorReply("", "550 x", long)
	if want := "550 5.0.0 " + long[:100] + "..." + long[len(long)-100:] + "... x"; got != want {
		t.Errorf("long address: %q", got)
	}
}

func repeat(s string, n int) string {
	b := make([]byte, 0, n*len(s))
	for i := 0; i < n; i++ {
		b = append(b, s...)
	}
	return string(b)
}

func TestSoftBounce(t *testing.T) {
	for in, want := range map[string]string{
		"550 5.7.1 <a>... Access denied": "450 4.7.1 <a>... Access denied",
		"553 5.3.0 x":                    "453 4.3.0 x",
		"451 4.3.0 x":                    "451 4.3.0 x",
		"550 x":                          "450 x",
	} {
		if got := SoftBounce(in); got != want {
			t.Errorf("SoftBounce(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct {
		ip         string
		full, comp string
	}{
		{"10.1.2.3", "10.1.2.3", "10.1.2.3"},
		{"::ffff:127.0.0.21", "127.0.0.21", "127.0.0.21"},
		{"2001:db8::1", "IPv6:2001:db8:0:0:0:0:0:1", "IPv6:2001:db8::1"},
		{"2001:DB8:0:0:1:0:0:1", "IPv6:2001:db8:0:0:1:0:0:1", "IPv6:2001:db8::1:0:0:1"},
		{"::1", "IPv6:0:0:0:0:0:0:0:1", "IPv6:::1"},
		{"::", "IPv6:0:0:0:0:0:0:0:0", "IPv6:::"},
		{"fe80::", "IPv6:fe80:0:0:0:0:0:0:0", "IPv6:fe80::"},
		{"::1.2.3.4", "IPv6:0:0:0:0:0:0:102:304", "IPv6:::1.2.3.4"},
		{"1:0:2:0:3:0:4:0", "IPv6:1:0:2:0:3:0:4:0", "IPv6:1:0:2:0:3:0:4:0"},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		if got := ClientAddr(ip, false); got != tt.full {
			t.Errorf("ClientAddr(%s) = %q, want %q", tt.ip, got, tt.full)
		}
		if got := ClientAddr(ip, true); got != tt.comp {
			t.Errorf("ClientAddr(%s, compressed) = %q, want %q", tt.ip, got, tt.comp)
		}
	}
	if got := ClientLiteral(netip.MustParseAddr("127.0.0.21"), false); got != "[127.0.0.21]" {
		t.Errorf("ClientLiteral = %q", got)
	}
}

func TestSplitAddress(t *testing.T) {
	for in, want := range map[string][2]string{
		"<user@Example.COM.>": {"user", "Example.COM"},
		"user":                {"user", ""},
		"<a@b@c>":             {"a@b", "c"},
		" <x@y> ":             {"x", "y"},
	} {
		l, d := SplitAddress(in)
		if l != want[0] || d != want[1] {
			t.Errorf("SplitAddress(%q) = %q %q, want %q", in, l, d, want)
		}
	}
}

func TestReplyNotFound(t *testing.T) {
	c := &Checker{}
	for _, ch := range []Check{CheckRelay, CheckMail, CheckRcpt} {
		if got, ok := c.Reply(ch, Result{}.RHS, "<a@b>"); ok || got != "" {
			t.Errorf("check %d: nothing found gives %q %v", ch, got, ok)
		}
	}
	if ParseRHS("").Kind == None || ParseRHS("x").Kind == None {
		t.Error("ParseRHS must not return None")
	}
}
