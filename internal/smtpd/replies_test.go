// SPDX-License-Identifier: MIT

package smtpd

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// replyCases renders every entry of the reply table with sample
// arguments. testdata/replies.golden pins the result: a changed reply
// text shows up as a diff, and every line there was checked against the
// real sendmail (the differential test) or the reference notes, except
// those replies.go marks unverified.
var replyCases = []struct {
	name string
	r    reply
	args []any
}{
	{"Greeting", rGreeting, []any{"mail.hamap.local ESMTP Sendmail 8.17.1.9/8.17.1.9; Fri, 27 Nov 2026 01:01:05 GMT"}},
	{"Hello", rHello, []any{"mail.hamap.local", "[127.0.0.20]"}},
	{"HeloNoArg", rHeloNoArg, []any{"HELO"}},
	{"Quit", rQuit, []any{"mail.hamap.local"}},
	{"Noop", rNoop, nil},
	{"Rset", rRset, nil},
	{"Unrecognized", rUnrecognized, []any{"FOO bar"}},
	{"TooLong", rTooLong, nil},
	{"SenderOK", rSenderOK, []any{"<a@hamap.local>"}},
	{"SenderSpecified", rSenderSpecified, nil},
	{"NeedHelo", rNeedHelo, nil},
	{"SyntaxScanning", rSyntaxScanning, []any{"TO"}},
	{"ParamUnknown", rParamUnknown, []any{"FOO"}},
	{"ParamBadBody", rParamBadBody, []any{"9BIT"}},
	{"ParamBadSize", rParamBadSize, nil},
	{"ParamSizeValue", rParamSizeValue, nil},
	{"ParamBadRet", rParamBadRet, []any{"X"}},
	{"ParamDupRet", rParamDupRet, nil},
	{"ParamDupEnvid", rParamDupEnvid, nil},
	{"ParamBadEnvid", rParamBadEnvid, nil},
	{"ParamBadNotify", rParamBadNotify, []any{"X"}},
	{"ParamBadOrcpt", rParamBadOrcpt, nil},
	{"SizeExceeded", rSizeExceeded, []any{int64(1000)}},
	{"NoDiskSpace", rNoDiskSpace, nil},
	{"DomainRequired", rDomainRequired, []any{"<a>", "a"}},
	{"RealDomainReqd", rRealDomainReqd, []any{"<a@localhost>"}},
	{"SenderNoDomain", rSenderNoDomain, []any{"<x@nosuch.example>", "x@nosuch.example"}},
	{"SenderTempDNS", rSenderTempDNS, []any{"x@foo.zz"}},
	{"Unbalanced", rUnbalanced, []any{"<a@hamap.local", '<'}},
	{"AddrTooLong", rAddrTooLong, []any{"<x>"}},
	{"TokenTooLong", rTokenTooLong, []any{"<x>"}},
	{"ListSyntax", rListSyntax, []any{"<@>"}},
	{"UserRequired", rUserRequired, []any{"<@hamap.local>"}},
	{"HostRequired", rHostRequired, []any{"<a@>"}},
	{"InvalidHost", rInvalidHost, []any{"<a@hamap..local>"}},
	{"InvalidRoute", rInvalidRoute, []any{"<a@@hamap.local>"}},
	{"InvalidAddr", rInvalidAddr, []any{"<b@[1.2.3.4]x>"}},
	{"ColonIllegal", rColonIllegal, []any{"<b@ham:ap.local>"}},
	{"IllegalChar", rIllegalChar, []any{"<a\x01@b>"}},
	{"NullRecipient", rNullRecipient, []any{"<>"}},
	{"RecipientOK", rRecipientOK, []any{"<b@hamap.local>"}},
	{"NeedMailRcpt", rNeedMailRcpt, nil},
	{"TooManyRcpts", rTooManyRcpts, nil},
	{"UserUnknown", rUserUnknown, []any{"<nosuchuser@hamap.local>"}},
	{"RelayDenied", rRelayDenied, []any{"<friend@outside.example>", "Relaying denied"}},
	{"RelayDeniedAuth", rRelayDenied, []any{"<friend@outside.example>", "Relaying denied. Proper authentication required."}},
	{"RelayLookupFail", rRelayLookupFail, []any{"<friend@outside.example>", "[127.1.0.5]"}},
	{"RelayForged", rRelayForged, []any{"<friend@outside.example>", "[127.1.0.11]"}},
	{"RelayTemp", rRelayTemp, []any{"<friend@outside.example>", "127.1.0.5"}},
	{"RcptTempFail", rRcptTempFail, nil},
	{"NeedMailData", rNeedMailData, nil},
	{"NeedRcpt", rNeedRcpt, nil},
	{"StartData", rStartData, nil},
	{"Accepted", rAccepted, []any{"6AR119G3019841"}},
	{"BareLF", rBareLF, nil},
	{"BareCR", rBareCR, nil},
	{"DataTempFail", rDataTempFail, nil},
	{"VrfyDenied", rVrfyDenied, nil},
	{"ExpnDenied", rExpnDenied, nil},
	{"VrfyOK", rVrfyOK, []any{"b", "mail.hamap.local"}},
	{"VrfyRemote", rVrfyRemote, []any{"a", "outside.example"}},
	{"VrfyNeedArg", rVrfyNeedArg, nil},
	{"EtrnStarted", rEtrnStarted, []any{"hamap.local"}},
	{"EtrnNeedArg", rEtrnNeedArg, nil},
	{"EtrnDisabled", rEtrnDisabled, nil},
	{"EtrnGroup", rEtrnGroup, []any{"mqueue"}},
	{"EtrnNoQueue", rEtrnNoQueue, []any{"nosuch"}},
	{"EtrnFailed", rEtrnFailed, nil},
	{"HelpLine", rHelpLine, []any{"This is sendmail version 8.17.1.9"}},
	{"HelpEnd", rHelpEnd, nil},
	{"HelpNoTopic", rHelpNoTopic, []any{"foo"}},
	{"HelpMissing", rHelpMissing, []any{"8.17.1.9"}},
	{"VerbDenied", rVerbDenied, nil},
	{"VerbOK", rVerbOK, nil},
	{"AuthOK", rAuthOK, nil},
	{"AuthFailed", rAuthFailed, nil},
	{"AuthRequired", rAuthRequired, nil},
	{"AuthAlready", rAuthAlready, nil},
	{"AuthNoMech", rAuthNoMech, []any{"FOO"}},
	{"AuthAborted", rAuthAborted, nil},
	{"AuthNotDuringTx", rAuthNotDuringTx, nil},
	{"AuthNotAvail", rAuthNotAvail, nil},
	{"AuthNeedMech", rAuthNeedMech, nil},
	{"TLSReady", rTLSReady, nil},
	{"TLSActive", rTLSActive, nil},
	{"TLSNoParam", rTLSNoParam, nil},
	{"Timeout", rTimeout, []any{"mail.hamap.local", "[127.0.0.20]"}},
}

func TestReplyTable(t *testing.T) {
	var b strings.Builder
	for _, c := range replyCases {
		b.WriteString(c.name + "\t" + c.r.line(c.args...) + "\n")
	}
	got := b.String()
	const path = "testdata/replies.golden"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("reply table changed (-golden +table):\n%s", diff)
	}
}

// TestReplyErr checks that the *smtp.SMTPError form go-smtp writes is the
// same line as the table's.
func TestReplyErr(t *testing.T) {
	for _, c := range replyCases {
		t.Run(c.name, func(t *testing.T) {
			if c.r.esc == "" {
				return
			}
			if got, want := errLine(c.r.err(c.args...)), c.r.line(c.args...); got != want {
				t.Errorf("err form %q, line form %q", got, want)
			}
		})
	}
}

func TestTextReply(t *testing.T) {
	for _, line := range []string{
		"550 5.7.1 <a@b>... Access denied",
		"451 4.3.0 Temporary system failure. Please try again later.",
		"553 5.3.0 <a@b>... OK # comment",
	} {
		t.Run(line, func(t *testing.T) {
			if got := errLine(textReply(line)); got != line {
				t.Errorf("round trip %q -> %q", line, got)
			}
		})
	}
}
