// SPDX-License-Identifier: MIT

package smtpd

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// A reply is one entry of the table below: Sendmail 8.17's code,
// enhanced status code and text, with %s verbs for the parts that vary.
// Texts that name an address carry Sendmail's "<addr>... " prefix in the
// format itself, so every reply line is visible here as the client sees
// it (shared/reference/anchor-behaviour.md §3, sendmail-access.md §5-9).
type reply struct {
	code int
	esc  string // "" for replies without an enhanced code
	text string
}

// The reply table. Every entry is pinned by TestReplyTable's golden file.
// Entries marked "unverified" have not been produced by the real sendmail
// in the differential test (TestDifferentialSendmail) nor recorded in the
// reference notes; they follow the sendmail 8.17 sources as we know them.
var (
	// Greeting, HELO/EHLO, QUIT.
	rGreeting     = reply{220, "", "%s"}
	rHello        = reply{250, "", "%s Hello %s, pleased to meet you"}
	rHeloNoArg    = reply{501, "5.0.0", "%s requires domain address"}
	rQuit         = reply{221, "2.0.0", "%s closing connection"}
	rNoop         = reply{250, "2.0.0", "OK"}
	rRset         = reply{250, "2.0.0", "Reset state"}
	rUnrecognized = reply{500, "5.5.1", "Command unrecognized: \"%s\""}
	rTooLong      = reply{500, "5.5.0", "Command too long"} // unverified

	// MAIL.
	rSenderOK        = reply{250, "2.1.0", "%s... Sender ok"}
	rSenderSpecified = reply{503, "5.5.0", "Sender already specified"}
	rNeedHelo        = reply{503, "5.0.0", "Polite people say HELO first"} // unverified
	rSyntaxScanning  = reply{501, "5.5.2", "Syntax error in parameters scanning \"%s\""}
	rParamUnknown    = reply{555, "5.5.4", "%s parameter unrecognized"}
	rParamBadBody    = reply{501, "5.5.4", "Unknown BODY type %s"}
	rParamBadSize    = reply{552, "5.2.3", "Message size invalid"}
	rParamSizeValue  = reply{501, "5.5.2", "SIZE requires a value"}
	rParamBadRet     = reply{501, "5.5.2", "Bad argument \"%s\" to RET"}
	rParamDupRet     = reply{501, "5.5.0", "Duplicate RET parameter"}
	rParamDupEnvid   = reply{501, "5.5.0", "Duplicate ENVID parameter"}
	rParamBadEnvid   = reply{501, "5.5.4", "Syntax error in ENVID parameter value"}
	rParamBadNotify  = reply{501, "5.5.4", "Bad argument \"%s\"  to NOTIFY"}
	rParamBadOrcpt   = reply{501, "5.5.4", "Syntax error in ORCPT parameter value"}
	rSizeExceeded    = reply{552, "5.2.3", "Message size exceeds fixed maximum message size (%d)"} // unverified
	rNoDiskSpace     = reply{452, "4.4.5", "Insufficient disk space; try again later"}
	rDomainRequired  = reply{553, "5.5.4", "%s... Domain name required for sender address %s"}
	rRealDomainReqd  = reply{553, "5.5.4", "%s... Real domain name required for sender address"}
	rSenderNoDomain  = reply{553, "5.1.8", "%s... Domain of sender address %s does not exist"}
	rSenderTempDNS   = reply{451, "4.1.8", "Domain of sender address %s does not resolve"}

	// Address syntax (prescan and ruleset Parse0).
	rUnbalanced    = reply{553, "5.0.0", "%s... Unbalanced '%c'"}
	rAddrTooLong   = reply{553, "5.1.0", "%s... Address too long"} // unverified
	rTokenTooLong  = reply{553, "5.1.0", "%s... prescan: token too long"}
	rListSyntax    = reply{553, "5.1.3", "%s... List:; syntax illegal for recipient addresses"}
	rUserRequired  = reply{553, "5.1.3", "%s... User address required"}
	rHostRequired  = reply{553, "5.1.3", "%s... Hostname required"}
	rInvalidHost   = reply{553, "5.1.2", "%s... Invalid host name"}
	rInvalidRoute  = reply{553, "5.1.3", "%s... Invalid route address"}
	rInvalidAddr   = reply{553, "5.1.2", "%s... Invalid address"}
	rColonIllegal  = reply{553, "5.1.3", "%s... Colon illegal in host name part"}
	rIllegalChar   = reply{553, "5.1.3", "%s... Illegal character in address"} // unverified
	rNullRecipient = reply{553, "5.0.0", "%s... User address required"}

	// RCPT.
	rRecipientOK     = reply{250, "2.1.5", "%s... Recipient ok"}
	rNeedMailRcpt    = reply{503, "5.0.0", "Need MAIL before RCPT"}
	rTooManyRcpts    = reply{452, "4.5.3", "Too many recipients"} // unverified
	rUserUnknown     = reply{550, "5.1.1", "%s... User unknown"}
	rRelayDenied     = reply{550, "5.7.1", "%s... %s"}
	rRelayLookupFail = reply{550, "5.7.1", "%s... Relaying denied. IP name lookup failed %s"}
	rRelayForged     = reply{550, "5.7.1", "%s... Relaying denied. IP name possibly forged %s"}
	rRelayTemp       = reply{450, "4.4.0", "%s... Relaying temporarily denied. Cannot resolve PTR record for %s"}
	rRcptTempFail    = reply{451, "4.3.0", "Temporary system failure. Please try again later."}

	// DATA.
	rNeedMailData = reply{503, "5.0.0", "Need MAIL command"}
	rNeedRcpt     = reply{503, "5.0.0", "Need RCPT (recipient)"}
	rStartData    = reply{354, "", "End data with <CR><LF>.<CR><LF>"}
	rAccepted     = reply{250, "2.0.0", "%s Message accepted for delivery"}
	rBareLF       = reply{421, "4.5.0", "Bare linefeed (LF) not allowed"}
	rBareCR       = reply{421, "4.5.0", "Bare carriage return (CR) not allowed"}
	rDataTempFail = reply{451, "4.3.0", "Temporary system failure. Please try again later."} // unverified

	// VRFY, EXPN, ETRN, HELP, VERB.
	rVrfyDenied   = reply{252, "2.5.2", "Cannot VRFY user; try RCPT to attempt delivery (or try finger)"}
	rExpnDenied   = reply{502, "5.7.0", "Sorry, we do not allow this operation"}
	rVrfyOK       = reply{250, "2.1.5", "<%s@%s>"}           // unverified
	rVrfyNeedArg  = reply{501, "5.5.2", "Argument required"} // unverified
	rEtrnStarted  = reply{250, "2.0.0", "Queuing for node %s started"}
	rEtrnNeedArg  = reply{500, "5.5.2", "Parameter required"}
	rEtrnDisabled = reply{502, "5.7.0", "Sorry, we do not allow this operation"}
	rEtrnGroup    = reply{250, "2.0.0", "Queuing for queue group %s started"}
	rEtrnNoQueue  = reply{459, "4.5.4", "Queue %s unknown"}
	rEtrnFailed   = reply{451, "4.3.0", "Temporary system failure. Please try again later."} // unverified: sendmail's MSG_TEMPFAIL
	rHelpEnd      = reply{214, "2.0.0", "End of HELP info"}
	rHelpNoTopic  = reply{504, "5.3.0", "HELP topic \"%s\" unknown"}
	rVerbDenied   = reply{502, "5.7.0", "Verbose unavailable"}
	rVerbOK       = reply{250, "2.0.0", "Verbose mode"}                        // unverified
	rVrfyRemote   = reply{252, "2.1.5", "<%s@%s>"}                             // unverified
	rHelpMissing  = reply{502, "5.3.0", "Sendmail %s -- HELP not implemented"} // unverified
	rHelpLine     = reply{214, "2.0.0", "%s"}

	// AUTH.
	rAuthOK          = reply{235, "2.0.0", "OK Authenticated"} // unverified
	rAuthFailed      = reply{535, "5.7.0", "authentication failed"}
	rAuthRequired    = reply{530, "5.7.0", "Authentication required"} // unverified
	rAuthAlready     = reply{503, "5.5.0", "Already Authenticated"}   // unverified
	rAuthNoMech      = reply{504, "5.3.3", "AUTH mechanism %s not available"}
	rAuthAborted     = reply{501, "5.0.0", "AUTH aborted"}
	rAuthNotDuringTx = reply{503, "5.5.0", "AUTH not permitted during a mail transaction"}
	rAuthNotAvail    = reply{503, "5.3.3", "AUTH not available"} // unverified
	rAuthNeedMech    = reply{501, "5.5.2", "AUTH mechanism must be specified"}

	// STARTTLS.
	rTLSReady    = reply{220, "2.0.0", "Ready to start TLS"}                   // unverified
	rTLSActive   = reply{503, "5.5.0", "TLS already active"}                   // unverified
	rTLSNoParam  = reply{501, "5.5.2", "Syntax error (no parameters allowed)"} // unverified
	rTLSNotAvail = reply{454, "4.3.3", "TLS not available after start"}

	// Connection-level refusals.
	rTimeout = reply{421, "4.4.1", "%s Lost input channel from %s"} // unverified
)

// line renders r with args as one reply line without CRLF. Multi-line
// texts are split at "\n" by lines.
func (r reply) line(args ...any) string {
	text := r.text
	if len(args) > 0 || strings.Contains(text, "%%") {
		text = fmt.Sprintf(text, args...)
	}
	if r.esc == "" {
		return strconv.Itoa(r.code) + " " + text
	}
	return strconv.Itoa(r.code) + " " + r.esc + " " + text
}

// err renders r as the *smtp.SMTPError go-smtp writes for a session
// method's refusal.
func (r reply) err(args ...any) *smtp.SMTPError {
	text := r.text
	if len(args) > 0 {
		text = fmt.Sprintf(text, args...)
	}
	return &smtp.SMTPError{Code: r.code, EnhancedCode: parseESC(r.esc), Message: text}
}

// parseESC turns "5.7.1" into go-smtp's EnhancedCode.
func parseESC(s string) smtp.EnhancedCode {
	if s == "" {
		return smtp.NoEnhancedCode
	}
	var ec smtp.EnhancedCode
	parts := strings.SplitN(s, ".", 3)
	for i := range parts {
		n, _ := strconv.Atoi(parts[i])
		ec[i] = n
	}
	return ec
}

// textReply turns a full Sendmail reply line ("550 5.7.1 <x>... text",
// as accessdb.ErrorReply makes them) into an *smtp.SMTPError.
func textReply(line string) *smtp.SMTPError {
	code, rest, _ := strings.Cut(line, " ")
	n, err := strconv.Atoi(code)
	if err != nil || n < 200 || n > 599 {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: line}
	}
	esc, text, ok := strings.Cut(rest, " ")
	if ok && isESC(esc) {
		return &smtp.SMTPError{Code: n, EnhancedCode: parseESC(esc), Message: text}
	}
	cls := n / 100
	return &smtp.SMTPError{Code: n, EnhancedCode: smtp.EnhancedCode{cls, 0, 0}, Message: rest}
}

func isESC(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 {
			return false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// errLine renders an *smtp.SMTPError as go-smtp writes it.
func errLine(e *smtp.SMTPError) string {
	if e.EnhancedCode == smtp.NoEnhancedCode {
		return fmt.Sprintf("%d %s", e.Code, e.Message)
	}
	ec := e.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, ec[0], ec[1], ec[2], e.Message)
}
