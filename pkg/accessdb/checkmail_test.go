// SPDX-License-Identifier: MIT

package accessdb

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// fromEntries is the access map of TestCheckMailAgainstSendmail.
var fromEntries = map[string]string{
	"From:spammer@example.org":    "REJECT",
	"From:example.net":            "DISCARD",
	"From:user@":                  `ERROR:"553 Bogus sender"`,
	"From:friend@example.com":     "OK",
	"From:relay.example":          "RELAY",
	"From:quar.example":           "QUARANTINE:held for  review",
	"From:dsn.example":            "ERROR:5.7.9:550 Custom sender error text",
	"From:angle.example":          "ERROR:550 We dont   accept   <mail> from you",
	"From:quoted.example":         `ERROR:"550 quoted text  with   spaces"`,
	"From:tempfail.example":       "TEMPFAIL",
	"From:comment.example":        "OK # comment",
	"From:generic.example":        "451 generic text from access map",
	"From:code.example":           "ERROR:4.7.1:451 try later",
	"From:skipped.example":        "SKIP",
	"From:parent.skipped.example": "REJECT",
	"From:detail+*@example.com":   "DISCARD",
	"untagged.example":            "ReJeCt   ",
	"From:friendly@":              "FRIEND",
}

var fromSenders = []string{
	"spammer@example.org", "someone@sub.example.net", "user@nowhere.example", "friend@example.com",
	"x@relay.example", "x@quar.example", "x@dsn.example", "x@angle.example", "x@quoted.example",
	"x@tempfail.example", "x@comment.example", "x@generic.example", "x@code.example",
	"x@a.skipped.example", "x@parent.skipped.example", "detail+tag@example.com", "x@untagged.example",
	"friendly@b.example", "plain@nothing.example", "unqualified",
}

var (
	checkMailReturn = regexp.MustCompile(`^check_mail\s+returns: (.*)$`)
	errorTriple     = regexp.MustCompile(`^\$# error (?:\$@ (.*?) )?\$: (.*)$`)
)

// TestCheckMailAgainstSendmail runs ruleset check_mail of an m4-made cf
// (access_db with skip, accept_unresolvable_domains so that no DNS is
// needed) in sendmail -bt -d60.1 for each sender, and compares the access
// keys tried (From: F, U, D) and the verdict with Checker.From and
// Checker.Reply(CheckMail, …).
func TestCheckMailAgainstSendmail(t *testing.T) {
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	m4 := testutil.Oracle(t, "m4", "m4")
	makemap := testutil.Oracle(t, "makemap", "sendmail-bin")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	testutil.RequireRoot(t, "sendmail -bt runs in a private mount namespace (unshare -m) so that it cannot query the system resolver")
	if _, err := os.Stat("/usr/share/sendmail/cf/m4/cf.m4"); err != nil {
		if testutil.InCI() {
			t.Fatal("sendmail-cf is not installed")
		}
		t.Skip("sendmail-cf is not installed")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mapPath := filepath.Join(dir, "access")
	mc := fmt.Sprintf("include(`/usr/share/sendmail/cf/m4/cf.m4')dnl\nOSTYPE(`linux')dnl\n"+
		"define(`confDONT_PROBE_INTERFACES', `true')dnl\n"+
		"define(`confDONT_BLAME_SENDMAIL', `MapInUnsafeDirPath')dnl\n"+
		"FEATURE(`access_db', `hash -T<TMPF> %s', `skip')dnl\n"+
		"FEATURE(`accept_unresolvable_domains')dnl\n"+
		"MAILER(`local')dnl\nMAILER(`smtp')dnl\n", mapPath)
	cf, err := runCmd(m4, nil, strings.NewReader(mc))
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	cfPath := filepath.Join(dir, "t.cf")
	writeFile(t, cfPath, cf)
	var src strings.Builder
	for k, v := range fromEntries {
		fmt.Fprintf(&src, "%s\t%s\n", k, v)
	}
	if out, err := runCmd(makemap, []string{"hash", mapPath}, strings.NewReader(src.String())); err != nil {
		t.Fatalf("makemap: %v: %s", err, out)
	}
	writeFile(t, filepath.Join(dir, "resolv.conf"), "nameserver 127.0.0.1\n")
	host, _ := os.Hostname()
	writeFile(t, filepath.Join(dir, "hosts"), "127.0.0.1 localhost\n127.0.1.1 "+host+".localdomain "+host+"\n")
	var in strings.Builder
	for _, s := range fromSenders {
		fmt.Fprintf(&in, "check_mail <%s>\n", s)
	}
	script := `mount --bind "$1/resolv.conf" /etc/resolv.conf && mount --bind "$1/hosts" /etc/hosts && exec "$2" -C "$3" -bt -d60.1`
	out, _ := runCmd(unshare, []string{"-m", "sh", "-c", script, "sh", dir, sendmail, cfPath}, strings.NewReader(in.String()))

	type section struct {
		keys []string
		ret  string
	}
	var secs []*section
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "> ") {
			secs = append(secs, &section{})
			line = line[2:]
		}
		if len(secs) == 0 {
			continue
		}
		s := secs[len(secs)-1]
		if m := lookupLine.FindStringSubmatch(line); m != nil {
			// tls_client's TLS_Clt: lookups are not part of the From: walk.
			if !strings.HasPrefix(m[1], "TLS_Clt:") {
				s.keys = append(s.keys, m[1])
			}
		} else if m := checkMailReturn.FindStringSubmatch(line); m != nil {
			s.ret = m[1]
		}
	}
	if len(secs) < len(fromSenders) {
		t.Fatalf("%d sections for %d senders:\n%s", len(secs), len(fromSenders), out)
	}
	for i, sender := range fromSenders {
		s := secs[i]
		t.Run(sender, func(t *testing.T) {
			rm := &recMap{m: NewMemMap(fromEntries)}
			c := &Checker{Map: rm, Skip: true, TempFail: true}
			r, err := c.From("<" + sender + ">")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(s.keys, rm.keys); diff != "" {
				t.Errorf("keys (-sendmail +ours):\n%s", diff)
			}
			to := "<" + sender + ">"
			reply, refused := c.Reply(CheckMail, r.RHS, to)
			switch m := errorTriple.FindStringSubmatch(s.ret); {
			case m != nil && m[1] == "quarantine":
				if r.RHS.Kind != Quarantine || join(tokenize(m[2])) != r.RHS.Text {
					t.Errorf("sendmail quarantines (%q), we have %+v", m[2], r.RHS)
				}
			case m != nil:
				dsn := strings.ReplaceAll(m[1], " ", "")
				want := ErrorReply(dsn, join(tokenize(m[2])), to)
				if !refused || reply != want {
					t.Errorf("sendmail: %q -> %q; ours: %q (refused %v)", s.ret, want, reply, refused)
				}
			case strings.HasPrefix(s.ret, "$# discard"):
				if r.RHS.Kind != Discard {
					t.Errorf("sendmail discards, we have %+v", r)
				}
			case strings.HasPrefix(s.ret, "$# OK"), strings.HasPrefix(s.ret, "$# RELAY"):
				if !r.Found || !strings.EqualFold(r.RHS.Kind.String(), strings.TrimPrefix(s.ret, "$# ")) {
					t.Errorf("sendmail accepts with %q, we have %+v", s.ret, r)
				}
			default:
				if refused || (r.Found && r.RHS.Kind != Skip && r.RHS.Kind != Empty) {
					t.Errorf("sendmail returns %q (no verdict), we have %+v, reply %q", s.ret, r, reply)
				}
			}
		})
	}
}
