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
	// Detail is extra text for the operator's log and the bounce's
	// transcript (the program's stderr, the Go error); it is not part of
	// stat=.
	Detail string
}

// Sent reports a successful delivery.
func (s Status) Sent() bool { return s.Code == ExOK }

// Temporary reports a delivery to retry later (the queue keeps the
// recipient, Sendmail's "Deferred").
func (s Status) Temporary() bool {
	return s.Code != ExOK && s.DSN != "" && s.DSN[0] == '4'
}

// Permanent reports a delivery that bounces.
func (s Status) Permanent() bool { return s.Code != ExOK && !s.Temporary() }

// StatusFor maps a sysexits code to the Status Sendmail reports for it;
// codes outside the table give "unknown mailer error N" with 554 5.3.0,
// as Sendmail's giveresponse does.
func StatusFor(code int, detail string) Status {
	if code == ExOK {
		return Status{Code: ExOK, DSN: "2.0.0", Stat: "Sent", Reply: "250", Detail: detail}
	}
	if code >= ExUsage && code <= ExConfig {
		m := sysExMsg[code-ExUsage]
		return Status{Code: code, DSN: m.dsn, Stat: m.text, Reply: m.reply, Detail: detail}
	}
	return Status{Code: code, DSN: "5.3.0", Stat: fmt.Sprintf("unknown mailer error %d", code), Reply: "554", Detail: detail}
}
