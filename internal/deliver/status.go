// SPDX-License-Identifier: MIT

package deliver

import "fmt"

// Exit statuses of sysexits.h that a local mailer may return.
const (
	ExOK          = 0
	ExUsage       = 64
	ExDataErr     = 65
	ExNoInput     = 66
	ExNoUser      = 67
	ExNoHost      = 68
	ExUnavailable = 69
	ExSoftware    = 70
	ExOSErr       = 71
	ExOSFile      = 72
	ExCantCreat   = 73
	ExIOErr       = 74
	ExTempFail    = 75
	ExProtocol    = 76
	ExNoPerm      = 77
	ExConfig      = 78
)

// sysExMsg is Sendmail's table of replies for the sysexits codes 64-78
// (sendmail/sysexits.c): the SMTP reply, the DSN status and the text that
// ends up in the log's stat= field and the bounce.
var sysExMsg = [...]struct{ reply, dsn, text string }{
	{"500", "5.0.0", "Bad usage"},
	{"501", "5.6.0", "Data format error"},
	{"550", "5.3.0", "Cannot open input"},
	{"550", "5.1.1", "User unknown"},
	{"550", "5.1.2", "Host unknown"},
	{"554", "5.0.0", "Service unavailable"},
	{"554", "5.3.0", "Internal error"},
	{"451", "4.0.0", "Operating system error"},
	{"554", "5.3.5", "System file missing"},
	{"550", "5.0.0", "Can't create output"},
	{"451", "4.0.0", "I/O error"},
	{"450", "4.0.0", "Deferred"},
	{"554", "5.5.0", "Remote protocol error"},
	{"550", "5.0.0", "Insufficient permission"},
	{"554", "5.3.5", "Local configuration error"},
}

// Status is the outcome of one local delivery, in Sendmail's terms.
type Status struct {
	// Code is the sysexits status (ExOK, ExTempFail, ...) the mailer
	// returned or the built-in agent chose.
	Code int
	// DSN is the enhanced status code for the log's dsn= field and the
	// bounce ("2.0.0", "4.0.0", "5.1.1").
	DSN string
	// Stat is the log's stat= text: "Sent", "Deferred",
	// "Service unavailable", "unknown mailer error 1".
	Stat string
	// Reply is the SMTP reply code Sendmail would give for it.
	Reply string
	// Report is the Status: field of a delivery status notification
	// for this recipient (Sendmail's markfailure table: 5.5.0 for
	// EX_UNAVAILABLE, 4.2.0 for EX_TEMPFAIL, 5.0.0 for codes outside
	// sysexits); empty for a success.
	Report string
	// Detail is extra text for the operator's log and the bounce's
	// transcript (the program's stderr, the Go error); it is not part of
	// stat=.
	Detail string
}

// Sent reports a successful delivery.
func (s Status) Sent() bool { return s.Code == ExOK }

// Temporary reports a delivery to retry later (the queue keeps the
// recipient): EX_TEMPFAIL, EX_IOERR and EX_OSERR, as in Sendmail's
// markfailure.
func (s Status) Temporary() bool {
	return s.Code == ExTempFail || s.Code == ExIOErr || s.Code == ExOSErr
}

// Permanent reports a delivery that bounces.
func (s Status) Permanent() bool { return s.Code != ExOK && !s.Temporary() }

// StatusFor maps a sysexits code to the Status Sendmail reports for it,
// as its giveresponse and markfailure do: the table text, or for codes
// outside sysexits "unknown mailer error N" with 554 5.3.0. An
// EX_TEMPFAIL's stat gets ": why" appended when why is not empty
// ("Deferred: local mailer (/usr/bin/procmail) exited with EX_TEMPFAIL").
func StatusFor(code int, why string) Status {
	if code == ExOK {
		return Status{Code: ExOK, DSN: "2.0.0", Stat: "Sent", Reply: "250"}
	}
	var s Status
	if code >= ExUsage && code <= ExConfig {
		m := sysExMsg[code-ExUsage]
		s = Status{Code: code, DSN: m.dsn, Stat: m.text, Reply: m.reply}
	} else {
		s = Status{Code: code, DSN: "5.3.0", Stat: fmt.Sprintf("unknown mailer error %d", code), Reply: "554"}
	}
	if code == ExTempFail && why != "" {
		s.Stat += ": " + why
	}
	s.Report = reportStatus(code)
	return s
}

// reportStatus is markfailure's choice of a DSN status by exit code.
func reportStatus(code int) string {
	switch code {
	case ExUsage:
		return "5.5.4"
	case ExDataErr:
		return "5.5.2"
	case ExNoUser:
		return "5.1.1"
	case ExNoHost:
		return "5.1.2"
	case ExNoInput, ExCantCreat, ExNoPerm:
		return "5.3.0"
	case ExUnavailable, ExSoftware, ExOSFile, ExProtocol, ExConfig:
		return "5.5.0"
	case ExOSErr, ExIOErr:
		return "4.5.0"
	case ExTempFail:
		return "4.2.0"
	}
	return "5.0.0"
}

// Transcript is the line Sendmail writes for this status in a bounce's
// "Transcript of session follows" part (and prints under -v): a deferral
// as "<addr>... Deferred: ...", a 550 reply with the address
// ("550 5.1.1 g... User unknown"), other failures without it
// ("554 5.0.0 Service unavailable"); empty for a success.
func (s Status) Transcript(addr string) string {
	switch {
	case s.Code == ExOK:
		return ""
	case s.Code == ExTempFail:
		return addr + "... " + s.Stat
	case s.Reply == "550":
		return s.Reply + " " + s.DSN + " " + addr + "... " + s.Stat
	}
	return s.Reply + " " + s.DSN + " " + s.Stat
}
