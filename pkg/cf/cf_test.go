// SPDX-License-Identifier: MIT

package cf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// rootWith makes a directory tree for F lines: files[path] = content.
func rootWith(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func load(t *testing.T, name string, opts Options) *Config {
	t.Helper()
	opts.NoUserLookup = true
	c, err := Load(filepath.Join("testdata", "cf", name), opts)
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return c
}

var portCmp = cmpopts.IgnoreUnexported(PortOptions{})

// TestDebianDefault asserts the typed values of Debian 12's stock
// sendmail.cf.
func TestDebianDefault(t *testing.T) {
	root := rootWith(t, map[string]string{
		"etc/mail/local-host-names": "# local names\nmx.example.com  other.example  # trailing comment\n\n#skip.example\nthird.example\n",
		"etc/mail/relay-domains":    "relay.example\n",
	})
	c := load(t, "debian-default.cf", Options{Root: root})

	wantDaemons := []PortOptions{
		{Raw: "Family=inet,  Name=MTA-v4, Port=smtp, Addr=127.0.0.1", Name: "MTA-v4", Addr: "127.0.0.1", Port: "smtp", Family: "inet", Listen: 10},
		{Raw: "Family=inet,  Name=MSP-v4, Port=submission, M=Ea, Addr=127.0.0.1", Name: "MSP-v4", Addr: "127.0.0.1", Port: "submission", Family: "inet", Listen: 10, Modifiers: "Ea"},
	}
	if diff := cmp.Diff(wantDaemons, c.DaemonPortOptions, portCmp); diff != "" {
		t.Errorf("DaemonPortOptions (-want +got):\n%s", diff)
	}
	if got := c.DaemonPortOptions[1].DaemonFlags(); got != "EE a" {
		t.Errorf("daemon_flags = %q", got)
	}
	am := c.AccessMap()
	if am == nil {
		t.Fatal("no access map")
	}
	if am.Class != "hash" || am.File != "/etc/mail/access" || am.TempFail() != "<TMPF>" || am.Optional() || am.NoFoldCase() {
		t.Errorf("access map %+v", am)
	}
	if diff := cmp.Diff([]string{"localhost", "mx.example.com", "other.example", "third.example"}, c.Class("w")); diff != "" {
		t.Errorf("class w (-want +got):\n%s", diff)
	}
	if len(c.ClassFiles) == 0 || c.ClassFiles[0] != (ClassFile{Class: "w", Path: "/etc/mail/local-host-names", Format: `%[^\#]`, Line: c.ClassFiles[0].Line}) {
		t.Errorf("Fw line: %+v", c.ClassFiles)
	}
	if !c.InClass("R", "RELAY.example") {
		t.Errorf("class R from the optional relay-domains file: %q", c.Class("R"))
	}
	s := c.Settings
	checks := []struct {
		name      string
		got, want any
	}{
		{"DefaultUser", s.DefaultUser, "mail:mail"},
		{"TrustedUser", s.TrustedUser, "smmta"},
		{"QueueDirectory", s.QueueDirectory, "/var/spool/mqueue"},
		{"AliasFiles", s.AliasFiles, []string{"/etc/mail/aliases"}},
		{"ForwardPath", s.ForwardPath, []string{"$z/.forward.$w", "$z/.forward"}},
		{"MaxHopCount", s.MaxHopCount, 100},
		{"MaxDaemonChildren", s.MaxDaemonChildren, 0},
		{"ConnectionRateThrottle", s.ConnectionRateThrottle, 15},
		{"ConnectionRateWindowSize", s.ConnectionRateWindowSize, 10 * time.Minute},
		{"DeliveryMode", s.DeliveryMode, byte('b')},
		{"LogLevel", s.LogLevel, 9},
		{"HelpFile", s.HelpFile, "/etc/mail/helpfile"},
		{"StatusFile", s.StatusFile, "/var/lib/sendmail/sendmail.st"},
		{"PrivacyOptions", s.PrivacyOptions, []string{"needmailhelo", "needexpnhelo", "needvrfyhelo", "restrictqrun", "restrictexpand", "nobodyreturn", "authwarnings"}},
		{"SmtpGreetingMessage", s.SmtpGreetingMessage, "$j Sendmail $v/$Z; $b; (No UCE/UBE) $?{client_addr}logging access from: ${client_name}(${client_resolve})-$_$."},
		{"MaxMessageSize default", s.MaxMessageSize, int64(0)},
		{"MaxRecipientsPerMessage default", s.MaxRecipientsPerMessage, 0},
		{"Timeout.iconnect", s.Timeouts.IConnect, 2 * time.Minute},
		{"Timeout.mail", s.Timeouts.Mail, 2 * time.Minute},
		{"Timeout.rset", s.Timeouts.Rset, time.Minute},
		{"Timeout.command", s.Timeouts.Command, 5 * time.Minute},
		{"Timeout.ident", s.Timeouts.Ident, 5 * time.Second},
		{"Timeout.queuereturn", s.Timeouts.QueueReturn, QueueTimes{120 * time.Hour, 120 * time.Hour, 120 * time.Hour, 120 * time.Hour}},
		{"Timeout.queuewarn", s.Timeouts.QueueWarn, QueueTimes{4 * time.Hour, 4 * time.Hour, 4 * time.Hour, 4 * time.Hour}},
		{"Timeout.helo default", s.Timeouts.Helo, 5 * time.Minute},
		{"Timeout.rcpt default", s.Timeouts.Rcpt, time.Hour},
		{"Timeout.datablock default", s.Timeouts.DataBlock, time.Hour},
		{"macro j unset in Debian's file", c.Macros["j"], ""},
		{"macro Z", c.Macros["Z"], "8.17.1.9/Debian-2+deb12u2"},
		{"RejectNUL", s.RejectNUL, true},
		{"Version", c.Version, 10},
		{"Vendor", c.Vendor, "Berkeley"},
	}
	for _, ck := range checks {
		if diff := cmp.Diff(ck.want, ck.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ck.name, diff)
		}
	}
	local := c.Mailers["local"]
	if local == nil || local.Path != "/usr/sbin/sensible-mda" || local.Flags != "lsDFMAw5:/|@qPn9S" ||
		!cmp.Equal(local.Argv, []string{"sensible-mda", "$g", "$u", "$h", "${client_addr}"}) ||
		local.SenderEnvelope != "EnvFromL" || local.SenderHeader != "HdrFromL" || local.DSNTypes != "DNS/RFC822/X-Unix" {
		t.Errorf("local mailer %+v", local)
	}
	relay := c.Mailers["relay"]
	if relay == nil || relay.Path != "[IPC]" || relay.EOL != "\r\n" || relay.LineLimit != 2040 || relay.RecipientEnvelope != "MasqSMTP" || !relay.HasFlag('8') {
		t.Errorf("relay mailer %+v", relay)
	}
	if diff := cmp.Diff([]string{"local", "prog", "smtp", "esmtp", "smtp8", "dsmtp", "relay"}, c.MailerOrder); diff != "" {
		t.Errorf("mailers (-want +got):\n%s", diff)
	}
	if c.Priorities["junk"] != -100 || c.Priorities["special-delivery"] != 100 {
		t.Errorf("priorities %v", c.Priorities)
	}
	if diff := cmp.Diff([]string{"root", "daemon", "uucp"}, c.TrustedUsers); diff != "" {
		t.Errorf("T (-want +got):\n%s", diff)
	}
	var date *Header
	for i := range c.Headers {
		if c.Headers[i].Name == "Date" {
			date = &c.Headers[i]
		}
	}
	if date == nil || date.Flags != "D" || date.Value != "$a" {
		t.Errorf("Date header %+v", date)
	}
	var found bool
	for _, rs := range c.Rulesets {
		if rs.Name == "canonify" && rs.Number == 3 && len(rs.Rules) > 10 {
			found = true
		}
	}
	if !found {
		t.Error("ruleset canonify=3 with its rules not found")
	}
}

// TestRHELStyle asserts a RHEL-style cf: optional access map with .db,
// Fw without format, LOCAL_DOMAIN, numeric DefaultUser.
func TestRHELStyle(t *testing.T) {
	root := rootWith(t, map[string]string{"etc/mail/local-host-names": "a.example b.example\nc.example\n", "etc/mail/trusted-users": "smmsp\n"})
	c := load(t, "rhel-style.cf", Options{Root: root})
	am := c.AccessMap()
	if am == nil || am.File != "/etc/mail/access.db" || !am.Optional() || am.TempFail() != "<TMPF>" {
		t.Errorf("access map %+v", am)
	}
	// "%s" (no format) keeps the first word of each line only.
	if diff := cmp.Diff([]string{"localhost", "a.example", "c.example", "localhost.localdomain"}, c.Class("w")); diff != "" {
		t.Errorf("class w (-want +got):\n%s", diff)
	}
	if !c.InClass("t", "smmsp") {
		t.Errorf("class t = %q", c.Class("t"))
	}
	wantDaemons := []PortOptions{{Raw: "Port=smtp,Addr=127.0.0.1, Name=MTA", Name: "MTA", Addr: "127.0.0.1", Port: "smtp", Family: "inet", Listen: 10}}
	if diff := cmp.Diff(wantDaemons, c.DaemonPortOptions, portCmp); diff != "" {
		t.Errorf("DaemonPortOptions (-want +got):\n%s", diff)
	}
	s := c.Settings
	for _, ck := range []struct {
		name      string
		got, want any
	}{
		{"DefaultUser", s.DefaultUser, "8:12"},
		{"AliasFiles", s.AliasFiles, []string{"/etc/aliases"}},
		{"PrivacyOptions", s.PrivacyOptions, []string{"authwarnings", "novrfy", "noexpn", "restrictqrun"}},
		{"AuthOptions", s.AuthOptions, []string{"A"}},
		{"Timeout.connect", s.Timeouts.Connect, time.Minute},
		{"Timeout.ident", s.Timeouts.Ident, time.Duration(0)},
		{"StatusFile", s.StatusFile, "/var/log/mail/statistics"},
		{"SmtpGreetingMessage", s.SmtpGreetingMessage, "$j Sendmail $v/$Z; $b"},
		{"TrustedUser default", s.TrustedUser, ""},
		{"mailertable", c.Maps["mailertable"].File, "/etc/mail/mailertable.db"},
	} {
		if diff := cmp.Diff(ck.want, ck.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ck.name, diff)
		}
	}
	if c.Mailers["procmail"] == nil || c.Mailers["local"].Path != "/usr/bin/procmail" {
		t.Errorf("mailers %v", c.MailerOrder)
	}
}

// TestSMTest asserts the configurations the access-map reference was
// traced with.
func TestSMTest(t *testing.T) {
	root := rootWith(t, map[string]string{"tmp/smtest/etc/local-host-names": "hamap.local\n", "tmp/smtest/etc/trusted-users": "\n"})
	for _, tt := range []struct {
		file       string
		addr, name string
		accessFile string
		optional   bool
		macroS     string
		defUser    string
	}{
		{"smtest-debian.cf", "127.0.0.21", "MTA-v4", "/tmp/smtest/etc/access", false, "[127.0.0.21]", "mail:mail"},
		{"smtest-promisc.cf", "127.0.0.21", "MTA-v4", "/tmp/smtest/etc/access", false, "", "mail:mail"},
		{"smtest-relayfeat.cf", "127.0.0.21", "MTA-v4", "/tmp/smtest/etc/access", false, "", "mail:mail"},
		{"smtest-rhel.cf", "127.0.0.21", "MTA", "/tmp/smtest/etc/access.db", true, "", "8:12"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			c := load(t, tt.file, Options{Root: root})
			d := c.DaemonPortOptions[0]
			if d.Addr != tt.addr || d.Name != tt.name || d.Port != "smtp" || d.Family != "inet" {
				t.Errorf("daemon %+v", d)
			}
			if n, err := d.PortNumber(); err != nil || n != 25 {
				t.Errorf("PortNumber = %d, %v", n, err)
			}
			am := c.AccessMap()
			if am == nil || am.File != tt.accessFile || am.Optional() != tt.optional || am.TempFail() != "<TMPF>" {
				t.Errorf("access map %+v", am)
			}
			if !c.InClass("w", "hamap.local") {
				t.Errorf("class w = %q", c.Class("w"))
			}
			if c.Macros["j"] != "mx.hamap.local" {
				t.Errorf("$j = %q", c.Macros["j"])
			}
			if tt.macroS != "" && c.Macros["S"] != tt.macroS {
				t.Errorf("$S = %q", c.Macros["S"])
			}
			if c.QueueDirectory != "/tmp/smtest/mqueue" {
				t.Errorf("QueueDirectory %q", c.QueueDirectory)
			}
			if c.ClassFiles[0].Class != "w" || c.ClassFiles[0].Path != "/tmp/smtest/etc/local-host-names" {
				t.Errorf("Fw line %+v", c.ClassFiles[0])
			}
			if c.DefaultUser != tt.defUser {
				t.Errorf("DefaultUser %q, want %q", c.DefaultUser, tt.defUser)
			}
		})
	}
}

// TestLoadVectors loads every cf vector without its class files: none
// may give an error.
func TestLoadVectors(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "cf", "*.cf"))
	if len(files) < 8 {
		t.Fatalf("only %d vectors", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f, Options{NoClassFiles: true, NoUserLookup: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Mailers) < 7 || len(c.Rulesets) < 20 || len(c.DaemonPortOptions) == 0 {
				t.Errorf("incomplete: %d mailers, %d rulesets", len(c.Mailers), len(c.Rulesets))
			}
		})
	}
}

// TestDefaults checks the built-in values of a cf that sets nothing.
func TestDefaults(t *testing.T) {
	c, err := Parse(strings.NewReader("V10/Berkeley\n"), "min.cf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := defaultSettings()
	want.DaemonPortOptions = []PortOptions{{Name: "Daemon0", Port: "smtp", Family: "inet", Listen: 10}}
	if diff := cmp.Diff(want, c.Settings, portCmp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The timeouts sendmail -d37 prints after inittimeouts on Debian 12.
	to := c.Timeouts
	for name, got := range map[string]time.Duration{
		"initial=300": to.Initial, "helo=300": to.Helo, "mail=600": to.Mail, "rcpt=3600": to.Rcpt,
		"datainit=300": to.DataInit, "datablock=3600": to.DataBlock, "datafinal=3600": to.DataFinal,
		"rset=300": to.Rset, "quit=120": to.Quit, "command=3600": to.Command, "misc=120": to.Misc,
		"ident=5": to.Ident, "fileopen=60": to.FileOpen, "lhlo=120": to.LHLO, "control=120": to.Control,
		"connect=0": to.Connect, "aconnect=0": to.AConnect,
	} {
		_, secs, _ := strings.Cut(name, "=")
		if got != time.Duration(atol(secs))*time.Second {
			t.Errorf("%s: got %v", name, got)
		}
	}
}

// TestLines covers each line form on small inputs.
func TestLines(t *testing.T) {
	src := strings.Join([]string{
		"# comment",
		"",
		"V10/Berkeley",
		"Djmx.example.com",
		"D{MTAHost}[127.0.0.1]",
		`Dq"quoted  value" \"x\" y`,
		`D{Long}a\\b`,
		"Cwlocalhost",
		"C{w}a.example b.example",
		"Cw $j",
		"CO @ % !",
		"C{Accept}OK RELAY",
		"Kaccess hash -T<TMPF> -o /etc/mail/access.db",
		"Kmxserved bestmx -z: -T<TEMP>",
		"Kdnsbl dns -R A -T<TMP>",
		"Kresolve host -a<OKR> -T<TEMP>",
		"O DaemonPortOptions=Port=587, Name=MSA, M=E",
		"O DaemonPortOptions=Family=inet6, Addr=::1, Port=25, L=20, S=1024, R=2048, I=m1;m2, c=5, D=q, d=8, q=9, r=10",
		"O ClientPortOptions=Family=inet, Addr=192.0.2.1, M=h",
		"O PrivacyOptions=    restrictqrun",
		"O PrivacyOptions=goaway",
		"O AliasFile=/etc/aliases, /etc/mail/more",
		"O AliasFile=/third",
		"O   MaxMessageSize  =  26214400",
		"O MaxRecip=100",
		"OL14",
		"O Timeout.queuewarn.urgent=2h",
		"O Timeout.queuereturn.non-urgent=1w",
		"O Timeout.DataBlock=1h30m",
		"O Timeout.resolver.retry=3",
		"O DeliveryMode=queueonly",
		"O MinQueueAge=30m",
		"O AuthMechanisms=LOGIN PLAIN CRAM-MD5",
		"O AuthOptions=A p y",
		"O ServerCertFile=/etc/ssl/c.pem",
		"O ServerKeyFile=/etc/ssl/k.pem",
		"O CACertFile=/etc/ssl/ca.pem",
		"O CACertPath=/etc/ssl/certs",
		"O SoftBounce=True",
		"Mlocal, P=/usr/bin/procmail, F=lsDFMAw5:/|@qSPfhn9, S=EnvFromL/HdrFromL, R=EnvToL/HdrToL,",
		"\t\tT=DNS/RFC822/X-Unix,",
		"\t\tA=procmail -a $h -d $u",
		`Mesmtp, P=[IPC], F=mDFMuXa, S=EnvFromSMTP/HdrFromSMTP, R=EnvToSMTP, E=\r\n, L=990, M=1000, m=10, r=50, N=5, D=$z:/, U=mail:mail, C=iso-8859-1, W=2m, /=/chroot,`,
		`		A="TCP, quoted" $h`,
		"Pbulk=-60",
		"Troot daemon",
		"H?D?Date: $a",
		"H?${MyMacro}?X-My: on",
		"HReceived: $?sfrom $s $.by $j",
		"ETZ=UTC",
		"Xm1, S=local:/run/m1.sock, F=T, T=S:4m;R:4m",
		"Qslow, P=/var/spool/mqueue/slow, F=f, I=1m, R=3",
		"Scanonify=3",
		"R$@\t$@ <@>",
		"R$*\t$: $1 <@>\tmark addresses",
		"S5",
		"SLocal_check_rcpt",
		"# a comment",
		"  continued comment line",
	}, "\n") + "\n"
	c, err := Parse(strings.NewReader(src), "t.cf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	// As sendmail -bt prints $q and ${Long} for these lines.
	if c.Macros["MTAHost"] != "[127.0.0.1]" || c.Macros["q"] != `quoted  value "x" y` || c.Macros["Long"] != `a\b` || c.Macros["j"] != "mx.example.com" {
		t.Errorf("macros %q", c.Macros)
	}
	if v, ok := c.Macro("{MTAHost}"); !ok || v != "[127.0.0.1]" {
		t.Errorf("Macro({MTAHost}) = %q", v)
	}
	if diff := cmp.Diff([]string{"localhost", "a.example", "b.example", "mx.example.com"}, c.Class("{w}")); diff != "" {
		t.Errorf("class w (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"@", "%", "!"}, c.Class("O")); diff != "" {
		t.Errorf("class O: %s", diff)
	}
	acc := c.Maps["access"]
	if acc.File != "/etc/mail/access.db" || !acc.Optional() || acc.TempFail() != "<TMPF>" || acc.Args != "" {
		t.Errorf("access %+v", acc)
	}
	if m := c.Maps["mxserved"]; m.Flags['z'] != ":" || m.TempFail() != "<TEMP>" || m.File != "" {
		t.Errorf("mxserved %+v", m)
	}
	if m := c.Maps["dnsbl"]; m.Class != "dns" || m.Spec != "-R A -T<TMP>" {
		t.Errorf("dnsbl %+v", m)
	}
	if m := c.Maps["resolve"]; m.Append() != "<OKR>" {
		t.Errorf("resolve %+v", m)
	}
	want6 := PortOptions{Raw: "Family=inet6, Addr=::1, Port=25, L=20, S=1024, R=2048, I=m1;m2, c=5, D=q, d=8, q=9, r=10",
		Name: "Daemon1", Addr: "::1", Port: "25", Family: "inet6", Listen: 20, SndBufSize: 1024, RcvBufSize: 2048,
		InputMailFilters: []string{"m1", "m2"}, Children: "5", DeliveryMode: "q", DelayLA: "8", QueueLA: "9", RefuseLA: "10"}
	if diff := cmp.Diff(want6, c.DaemonPortOptions[1], portCmp); diff != "" {
		t.Errorf("inet6 daemon (-want +got):\n%s", diff)
	}
	if cl := c.ClientPortOptions; len(cl) != 1 || cl[0].Addr != "192.0.2.1" || !cl[0].HasModifier('h') || cl[0].Port != "" {
		t.Errorf("client %+v", cl)
	}
	s := c.Settings
	for _, ck := range []struct {
		name      string
		got, want any
	}{
		{"PrivacyOptions", s.PrivacyOptions, []string{"restrictqrun", "goaway"}},
		{"AliasFiles", s.AliasFiles, []string{"/etc/aliases", "/etc/mail/more", "/third"}},
		{"MaxMessageSize", s.MaxMessageSize, int64(26214400)},
		{"MaxRecipientsPerMessage (abbreviated)", s.MaxRecipientsPerMessage, 100},
		{"LogLevel (one-letter form)", s.LogLevel, 14},
		{"QueueWarn", s.Timeouts.QueueWarn, QueueTimes{4 * time.Hour, 2 * time.Hour, 12 * time.Hour, 4 * time.Hour}},
		{"QueueReturn", s.Timeouts.QueueReturn, QueueTimes{120 * time.Hour, 48 * time.Hour, 168 * time.Hour, 120 * time.Hour}},
		{"DataBlock", s.Timeouts.DataBlock, 90 * time.Minute},
		{"resolver.retry", [2]int{s.Timeouts.ResolverRetryFirst, s.Timeouts.ResolverRetryNormal}, [2]int{3, 3}},
		{"DeliveryMode", s.DeliveryMode, byte('q')},
		{"MinQueueAge", s.MinQueueAge, 30 * time.Minute},
		{"AuthMechanisms", s.AuthMechanisms, []string{"LOGIN", "PLAIN", "CRAM-MD5"}},
		{"AuthOptions", s.AuthOptions, []string{"A", "p", "y"}},
		{"TLS files", []string{s.ServerCertFile, s.ServerKeyFile, s.CACertFile, s.CACertPath}, []string{"/etc/ssl/c.pem", "/etc/ssl/k.pem", "/etc/ssl/ca.pem", "/etc/ssl/certs"}},
		{"SoftBounce", s.SoftBounce, true},
		{"Warnings", c.Warnings, []string{"t.cf: line 25: Option MaxRecip used as abbreviation for MaxRecipientsPerMessage"}},
	} {
		if diff := cmp.Diff(ck.want, ck.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ck.name, diff)
		}
	}
	es := c.Mailers["esmtp"]
	wantE := &Mailer{Name: "esmtp", Path: "[IPC]", Flags: "mDFMuXa", SenderEnvelope: "EnvFromSMTP", SenderHeader: "HdrFromSMTP",
		RecipientEnvelope: "EnvToSMTP", RecipientHeader: "EnvToSMTP", Argv: []string{"TCP,", "quoted", "$h"}, EOL: "\r\n",
		MaxMessageSize: 1000, MaxMessages: 10, MaxRecipients: 50, LineLimit: 990, Nice: 5, Dirs: []string{"$z", "/"},
		User: "mail:mail", Charset: "iso-8859-1", Wait: 2 * time.Minute, Root: "/chroot", Line: es.Line}
	if diff := cmp.Diff(wantE, es, cmpopts.IgnoreFields(Mailer{}, "Fields")); diff != "" {
		t.Errorf("esmtp (-want +got):\n%s", diff)
	}
	if lm := c.Mailers["local"]; lm.DSNTypes != "DNS/RFC822/X-Unix" || len(lm.Argv) != 5 || lm.Line != 42 {
		t.Errorf("local (folded over 3 lines) %+v", lm)
	}
	wantH := []Header{
		{Name: "Date", Value: "$a", Flags: "D", Line: 47},
		{Name: "X-My", Value: "on", Macro: "MyMacro", Line: 48},
		{Name: "Received", Value: "$?sfrom $s $.by $j", Line: 49},
	}
	if diff := cmp.Diff(wantH, c.Headers); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if c.Env[0] != "TZ=UTC" || c.Milters[0].Name != "m1" || c.Milters[0].Fields['T'] != "S:4m;R:4m" || c.QueueGroups[0].Fields['P'] != "/var/spool/mqueue/slow" {
		t.Errorf("E/X/Q: %q %+v %+v", c.Env, c.Milters, c.QueueGroups)
	}
	wantRS := []*Ruleset{
		{Name: "canonify", Number: 3, Line: 53, Rules: []Rule{{LHS: "$@", RHS: "$@ <@>", Line: 54}, {LHS: "$*", RHS: "$: $1 <@>", Comment: "mark addresses", Line: 55}}},
		{Number: 5, Line: 56},
		{Name: "Local_check_rcpt", Number: -1, Line: 57},
	}
	if diff := cmp.Diff(wantRS, c.Rulesets); diff != "" {
		t.Errorf("rulesets (-want +got):\n%s", diff)
	}
	if c.Priorities["bulk"] != -60 || !cmp.Equal(c.TrustedUsers, []string{"root", "daemon"}) || !c.InClass("t", "DAEMON") {
		t.Errorf("P/T: %v %v", c.Priorities, c.TrustedUsers)
	}
}

// TestErrors pins the wording sendmail 8.17 prints for bad lines (see
// TestErrorsAgainstSendmail for the same table run through the real one).
func TestErrors(t *testing.T) {
	for _, tt := range badLines {
		t.Run(tt.line, func(t *testing.T) {
			_, err := Parse(strings.NewReader("V10/Berkeley\nDjmx.example\n"+tt.line+"\n"), "bad.cf", Options{})
			var got []string
			for _, e := range unjoin(err) {
				got = append(got, e.Error())
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, "bad.cf: line 3: "+w)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// badLines are cf lines and the errors sendmail reports for them
// (checked against the real sendmail by TestErrorsAgainstSendmail).
var badLines = []struct {
	line string
	want []string
}{
	{"Zfoo", []string{`unknown configuration line "Zfoo"`}},
	{"Lfoo", []string{`unknown configuration line "Lfoo"`}},
	{"O NoSuchOption=1", []string{"readcf: unknown option name NoSuchOption"}},
	{"O Tim=1", []string{"readcf: ambiguous option name Tim (matches Timeout and TimeZoneSpec)"}},
	{"O =x", []string{"readcf: null option name"}},
	{"O Timeout.nosuch=5m", []string{"settimeout: invalid timeout nosuch"}},
	{"O Timeout.mail=5x", []string{"Invalid time unit `x'"}},
	{"O DeliveryMode=z", []string{"Unknown delivery mode z"}},
	{"O DaemonPortOptions=Family=ipx", []string{"Unknown address family ipx in Family=option"}},
	{"O DaemonPortOptions=Xyz=1", []string{`PortOptions parameter "Xyz=1" unknown`}},
	{"O DaemonPortOptions=Port=nosuchservice", []string{`service "nosuchservice" unknown`}},
	{"O RunAsUser=nosuchuser4711", []string{"readcf: option RunAsUser: unknown user nosuchuser4711"}},
	{"O DefaultUser=nosuchuser4711:mail", []string{"readcf: option u: unknown user nosuchuser4711"}},
	{"O DefaultUser=8:nosuchgroup4711", []string{"readcf: option u: unknown group nosuchgroup4711"}},
	{"O TrustedUser=nosuchuser4711", []string{"readcf: option TrustedUser: unknown user nosuchuser4711"}},
	{"Mfoo, P=/x, U=nosuchuser4711, A=x", []string{"readcf: mailer U= flag: unknown user nosuchuser4711"}},
	{"Kfoo nosuchclass /x", []string{"readcf: map foo: class nosuchclass not available"}},
	{"K", []string{"readcf: config K line: no map name"}},
	{"Kfoo", []string{"readcf: config K line, map foo: no map class"}},
	{"Mfoo, P=/bin/x", []string{"Mfoo: A= argument required"}},
	{"Mfoo, A=x", []string{"Mfoo: P= argument required"}},
	{"Mbar, P=[IPC], F=x, Q=bad, A=x", []string{"mailer bar: unknown queue bad", "Mbar: too few parameters for [IPC] mailer"}},
	{"Mfoo, P=/x, A=x, Z=9", []string{"Mfoo: unknown mailer equate Z="}},
	{"Mfoo, P=/x, A=x, F", []string{"mailer foo: `=' expected"}},
	{"M", []string{"name required for mailer"}},
	{"C{x", []string{"Unbalanced { on x", "Unable to assign macro/class ID (mid = 0xffffffff)"}},
	{"S", []string{`invalid ruleset name: ""`}},
	{"S200", []string{"bad ruleset 200 (100 max)"}},
	{"Sfoo=200", []string{`bad ruleset number 200 in "foo=200" (100 max)`}},
	{"Rfoo", []string{`missing valid ruleset for "Rfoo"`}},
	{"Hfoo", []string{`header syntax error, line "foo"`}},
	{"V99/Foo", []string{`invalid V line vendor code: "Foo"`}},
	{"Fw/nonexist/file", []string{"fileclass: cannot open '/nonexist/file': No such file or directory"}},
	{"Fw-o /nonexist/file", nil},
	{"O DontBlameSendmail=TrustStickyBit,certowner;a:b", []string{
		"readcf: DontBlameSendmail option: certowner unrecognized",
		"readcf: DontBlameSendmail option: a unrecognized",
		"readcf: DontBlameSendmail option: b unrecognized",
	}},
	{"O PrivacyOptions=novrfy,Bogus;x goaway", []string{"readcf: Op line: Bogus unrecognized", "readcf: Op line: x unrecognized"}},
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestErrorType(t *testing.T) {
	_, err := Parse(strings.NewReader("Zbad\n"), "/etc/mail/sendmail.cf", Options{})
	var e *Error
	if !errors.As(err, &e) || e.Line != 1 || e.File != "/etc/mail/sendmail.cf" || err.Error() != `/etc/mail/sendmail.cf: line 1: unknown configuration line "Zbad"` {
		t.Fatalf("err = %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		unit byte
		want time.Duration
		ok   bool
	}{
		{"5m", 'm', 5 * time.Minute, true},
		{"2h30m", 'm', 150 * time.Minute, true},
		{"90", 's', 90 * time.Second, true},
		{"90", 'm', 90 * time.Minute, true},
		{"5", 'd', 120 * time.Hour, true},
		{"1w2d", 'd', 9 * 24 * time.Hour, true},
		{"-1h", 'm', -time.Hour, true},
		{"now", 'd', 0, true},
		{"", 'm', 0, true},
		{"5x", 'm', 5 * time.Minute, false},
	} {
		got, ok := ParseDuration(tt.in, tt.unit)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseDuration(%q, %c) = %v %v, want %v %v", tt.in, tt.unit, got, ok, tt.want, tt.ok)
		}
	}
}

// TestUnsafeClassFileDir checks the directory safety rule below Root
// (TestUnsafeClassFilesAgainstSendmail compares it with sendmail).
func TestUnsafeClassFileDir(t *testing.T) {
	root := rootWith(t, map[string]string{"ww/f": "a\n", "gw/f": "b\n", "ok/f": "c\n"})
	for dir, mode := range map[string]os.FileMode{"ww": 0o777, "gw": 0o775, "ok": 0o755} {
		if err := os.Chmod(filepath.Join(root, dir), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		dbs  string
		want []string
	}{
		{"", []string{
			"t.cf: line 3: fileclass: cannot open '/ww/f': World writable directory",
			"t.cf: line 4: fileclass: cannot open '/gw/f': Group writable directory",
		}},
		{"GroupWritableDirPathSafe", []string{"t.cf: line 3: fileclass: cannot open '/ww/f': World writable directory"}},
		{"ClassFileInUnsafeDirPath", nil},
	} {
		src := "V10/Berkeley\nO DontBlameSendmail=" + tt.dbs + "\nF{A}/ww/f\nF{B}/gw/f\nF{C}/ok/f\nF{D}-o /ww/f\n"
		c, err := Parse(strings.NewReader(src), "t.cf", Options{Root: root})
		var got []string
		for _, e := range unjoin(err) {
			got = append(got, e.Error())
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("DontBlameSendmail=%s (-want +got):\n%s", tt.dbs, diff)
		}
		if !c.InClass("C", "c") {
			t.Errorf("safe file not read: %q", c.Class("C"))
		}
	}
}

func TestAccessFeatures(t *testing.T) {
	for _, tt := range []struct {
		file string
		want AccessFeatures
	}{
		{"debian-default.cf", AccessFeatures{Skip: true, DelayChecks: true}},
		{"smtest-debian.cf", AccessFeatures{Skip: true, DelayChecks: true}},
		{"rhel-style.cf", AccessFeatures{BlocklistRecipients: true}},
		{"smtest-rhel.cf", AccessFeatures{BlocklistRecipients: true}},
		{"base.cf", AccessFeatures{}},
	} {
		c := load(t, tt.file, Options{NoClassFiles: true})
		if diff := cmp.Diff(tt.want, c.AccessFeatures()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.file, diff)
		}
	}
}
