// SPDX-License-Identifier: MIT

package doveconf

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kind    kind
		enum    string
		in      string
		want    string
		wantErr string
	}{
		{name: "bool-yes", kind: kindBool, in: "YES", want: "yes"},
		{name: "bool-y", kind: kindBool, in: "y", want: "yes"},
		{name: "bool-1", kind: kindBool, in: "1", want: "yes"},
		{name: "bool-no", kind: kindBool, in: "No", want: "no"},
		{name: "bool-bad", kind: kindBool, in: "true", wantErr: "Invalid boolean value: true (use yes or no)"},
		{name: "uint", kind: kindUint, in: "0042", want: "42"},
		{name: "uint-empty", kind: kindUint, in: "", wantErr: "Invalid number : Not a valid number"},
		{name: "uint-neg", kind: kindUint, in: "-1", wantErr: "Invalid number -1: Number too small"},
		{name: "uint-big", kind: kindUint, in: "4294967296", wantErr: "Invalid number 4294967296: Number too large"},
		{name: "octal", kind: kindOctal, in: "0660", want: "0660"},
		{name: "octal-decimal", kind: kindOctal, in: "420", want: "0644"},
		{name: "octal-bad", kind: kindOctal, in: "08", wantErr: "Invalid number: 08"},
		{name: "port", kind: kindPort, in: "143", want: "143"},
		{name: "port-zero", kind: kindPort, in: "0", want: "0"},
		{name: "port-big", kind: kindPort, in: "65536", wantErr: "Invalid port number 65536"},
		{name: "size-M", kind: kindSize, in: "10M", want: "10 M"},
		{name: "size-space-G", kind: kindSize, in: "1 G", want: "1 G"},
		{name: "size-bytes", kind: kindSize, in: "100 B", want: "100 B"},
		{name: "size-kB", kind: kindSize, in: "5 kB", want: "5 k"},
		{name: "size-KiB", kind: kindSize, in: "1 KiB", want: "1 k"},
		{name: "size-bare", kind: kindSize, in: "2048", want: "2 k"},
		{name: "size-zero", kind: kindSize, in: "0", want: "0"},
		{name: "size-odd", kind: kindSize, in: "1025", want: "1025 B"},
		{name: "size-max", kind: kindSize, in: "18446744073709551615 B", want: "18446744073709551615 B"},
		{name: "size-bad", kind: kindSize, in: "64 Q", wantErr: "Invalid size: 64 Q"},
		{name: "size-large", kind: kindSize, in: "17179869184 G", wantErr: "Size is too large: 17179869184 G"},
		{name: "time-s", kind: kindTime, in: "30s", want: "30 secs"},
		{name: "time-seconds", kind: kindTime, in: "90 secs", want: "90 secs"},
		{name: "time-min", kind: kindTime, in: "1 min", want: "1 mins"},
		{name: "time-60s", kind: kindTime, in: "60 seconds", want: "1 mins"},
		{name: "time-hours", kind: kindTime, in: "2 hours", want: "2 hours"},
		{name: "time-days", kind: kindTime, in: "14 d", want: "2 weeks"},
		{name: "time-zero", kind: kindTime, in: "0", want: "0"},
		{name: "time-ms-whole", kind: kindTime, in: "3000 ms", want: "3 secs"},
		{name: "time-ms", kind: kindTime, in: "500 ms", wantErr: "Milliseconds not supported for this setting: 500 ms"},
		{name: "time-units", kind: kindTime, in: "300", wantErr: "Time interval '300' is missing units (add e.g. 's' for seconds)"},
		{name: "time-bad", kind: kindTime, in: "2 fortnights", wantErr: "Invalid time interval: 2 fortnights"},
		{name: "time-large", kind: kindTime, in: "100000 weeks", wantErr: "Time interval is too large: 100000 weeks"},
		{name: "msecs", kind: kindTimeMsecs, in: "250 ms", want: "250 ms"},
		{name: "msecs-secs", kind: kindTimeMsecs, in: "2s", want: "2 secs"},
		{name: "enum", kind: kindEnum, enum: "yes:no:required", in: "required", want: "required"},
		{name: "enum-case", kind: kindEnum, enum: "yes:no:required", in: "Yes", wantErr: "Invalid value: Yes"},
		{name: "string", kind: kindString, in: " kept as is ", want: " kept as is "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &settingDef{key: "k", kind: tc.kind, enum: tc.enum}
			got, err := d.normalize(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("normalize(%q) = %q, %v; want error %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestSortOrder(t *testing.T) {
	// doveconf's order: a setting before a longer key, '-' before '/',
	// escaped section names ("Sent\_Messages") after "Sent".
	keys := []string{"service/auth/", "service/auth-worker/", "mailbox/Sent\\_Messages/", "mailbox/Sent/", "ssl", "ssl_cert", "a\xff"}
	sort.SliceStable(keys, func(i, j int) bool { return cmpKeys(keys[i], keys[j]) < 0 })
	want := []string{"a\xff", "mailbox/Sent/", "mailbox/Sent\\_Messages/", "service/auth-worker/", "service/auth/", "ssl", "ssl_cert"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestSectionEscape(t *testing.T) {
	for in, want := range map[string]string{
		"Sent":          "Sent",
		"Sent Messages": `Sent\_Messages`,
		"a=b/c\\d,e":    `a\eb\sc\\d\+e`,
	} {
		if got := sectionEscape(in); got != want {
			t.Errorf("sectionEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"login_greeting", "Dovecot ready.", "Dovecot ready."},
		{"login_greeting", " lead", `" lead"`},
		{"postmaster_address", `a # "b"`, `"a # \"b\""`},
		{"ssl_key", "</etc/k.pem", "# hidden, use -P to show it"},
		{"ssl_key", "", ""},
		{"ssl_dh", "</usr/share/dovecot/dh.pem", "# hidden, use -P to show it"},
		{"doveadm_password", "x", "# hidden, use -P to show it"},
		{"_key", "x", "x"},
		{"args", "dbname=mail password=hunter2 host=localhost", "dbname=mail password=#hidden_use-P_to_show# host=localhost"},
		{"args", "/etc/dovecot/passwd", "/etc/dovecot/passwd"},
		{"args", "nopassword=x", "nopassword=x"},
		{"url", "http://user:pw@host/x", "http://#hidden_use-P_to_show#@host/x"},
		{"url", "https://host/x", "https://host/x"},
		{"args", "secret=a #b", `secret=#hidden_use-P_to_show# #b`},
	} {
		if got := formatValue(tc.key, tc.value); got != tc.want {
			t.Errorf("formatValue(%q, %q) = %q, want %q", tc.key, tc.value, got, tc.want)
		}
	}
}

func TestParseMailLocation(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    MailLocation
		wantErr bool
	}{
		{in: "mbox:~/mail:INBOX=/var/mail/%u", want: MailLocation{Driver: "mbox", Root: "~/mail", Inbox: "/var/mail/%u"}},
		{in: "mbox:%h/mail:INBOX=/s/%Ln:INDEX=/idx/%d/%n:CONTROL=~/ctl", want: MailLocation{Driver: "mbox", Root: "%h/mail", Inbox: "/s/%Ln", Index: "/idx/%d/%n", Control: "~/ctl"}},
		{in: "maildir:~/Maildir:LAYOUT=fs", want: MailLocation{Driver: "maildir", Root: "~/Maildir", Layout: "fs"}},
		{in: "maildir:~/Maildir:INDEX=MEMORY:UTF-8", want: MailLocation{Driver: "maildir", Root: "~/Maildir", Index: "MEMORY", Flags: []string{"UTF-8"}}},
		{in: "mbox:/a::b:ALT=/alt", want: MailLocation{Driver: "mbox", Root: "/a:b", Params: map[string]string{"ALT": "/alt"}}},
		{in: "/var/mail/%u", want: MailLocation{Root: "/var/mail/%u"}},
		{in: "", want: MailLocation{}},
		{in: "mbox:~/mail:BOGUS=1", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMailLocation(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseMailLocation(%q) = %+v, want error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpandMailLocation(t *testing.T) {
	// The cases of reference/dovecot-config.md §7, where Dovecot logged
	// the resolved paths.
	loc, err := ParseMailLocation("mbox:%h/mail:INBOX=/tmp/dvt/spool/%Ln-%Ld-%1n-%2.1n-%{user}-%{username}-%{domain}:INDEX=/tmp/dvt/idx/%d/%n:CONTROL=~/ctl")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vars Vars
		want MailLocation
	}{
		{"virtual", Vars{User: "vg4@example.com", Home: "/tmp/dvt/vhome/vg4"}, MailLocation{
			Driver: "mbox", Root: "/tmp/dvt/vhome/vg4/mail",
			Inbox: "/tmp/dvt/spool/vg4-example.com-v-4-vg4@example.com-vg4-example.com",
			Index: "/tmp/dvt/idx/example.com/vg4", Control: "/tmp/dvt/vhome/vg4/ctl"}},
		{"system", Vars{User: "mboxtest2", Home: "/home/mboxtest2"}, MailLocation{
			Driver: "mbox", Root: "/home/mboxtest2/mail",
			Inbox: "/tmp/dvt/spool/mboxtest2--m-o-mboxtest2-mboxtest2-",
			Index: "/tmp/dvt/idx//mboxtest2", Control: "/home/mboxtest2/ctl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loc.Expand(tc.vars)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	debian, _ := ParseMailLocation("mbox:~/mail:INBOX=/var/mail/%u")
	got, err := debian.Expand(Vars{User: "mboxtest1", Home: "/home/mboxtest1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Root != "/home/mboxtest1/mail" || got.Inbox != "/var/mail/mboxtest1" {
		t.Errorf("Debian location expanded to %+v", got)
	}
}

func TestExpandVars(t *testing.T) {
	v := Vars{User: "Bob@Example.COM", Home: "/h/bob", Service: "imap", LocalIP: "127.0.0.1", RemoteIP: "10.0.0.1", PID: "42", Session: "abc"}
	for _, tc := range []struct{ in, want string }{
		{"%u %n %d %h", "Bob@Example.COM Bob Example.COM /h/bob"},
		{"%Lu|%Un|%Ld", "bob@example.com|BOB|example.com"},
		{"%s %l %r %p %{session}", "imap 127.0.0.1 10.0.0.1 42 abc"},
		{"%{user}/%{username}/%{domain}/%{home}/%{service}/%{lip}/%{rip}/%{pid}", "Bob@Example.COM/Bob/Example.COM//h/bob/imap/127.0.0.1/10.0.0.1/42"},
		{"100%% %1n %-3n %1.2n", "100% B Bob ob"},
		{"no vars", "no vars"},
		{"trailing %", "trailing %"},
	} {
		got, err := ExpandVars(tc.in, v)
		if err != nil || got != tc.want {
			t.Errorf("ExpandVars(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if got, err := ExpandVars("a%zb", v); err == nil || got != "a%zb" {
		t.Errorf("ExpandVars with an unknown variable = %q, %v; want it kept and an error", got, err)
	}
}

func TestHomeExpand(t *testing.T) {
	for in, want := range map[string]string{"~": "/h/", "~/mail": "/h/mail", "/abs": "/abs", "~x/y": "~x/y"} {
		if got := HomeExpand(in, "/h/"); got != want {
			t.Errorf("HomeExpand(%q) = %q, want %q", in, got, want)
		}
	}
}
