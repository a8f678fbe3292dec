// SPDX-License-Identifier: MIT

package cf

import (
	"os/user"
	"strconv"
	"strings"
	"time"
)

// Settings are the typed values of the options the SMTP daemon and the
// queue use. Each holds Sendmail 8.17's built-in default (setdefaults
// and inittimeouts in conf.c) until an O line sets it.
type Settings struct {
	// DaemonPortOptions are the listening sockets, one per O line (the
	// lines add up). Without any line sendmail listens as "Daemon0" on
	// the smtp port of every IPv4 address.
	DaemonPortOptions []PortOptions
	// ClientPortOptions are the outgoing connection settings.
	ClientPortOptions []PortOptions

	QueueDirectory string
	// AliasFiles accumulates the comma-separated lists of every
	// AliasFile line.
	AliasFiles []string
	// ForwardPath is the colon-separated list, $-macros unexpanded.
	ForwardPath []string
	// MaxMessageSize is in bytes; 0 means no limit.
	MaxMessageSize int64
	// MaxRecipientsPerMessage, MaxDaemonChildren, ConnectionRateThrottle,
	// BadRcptThrottle: 0 means no limit.
	MaxRecipientsPerMessage  int
	MaxDaemonChildren        int
	ConnectionRateThrottle   int
	ConnectionRateWindowSize time.Duration
	BadRcptThrottle          int
	MaxHopCount              int
	MaxHeadersLength         int
	MaxRunnersPerQueue       int
	LogLevel                 int

	Timeouts Timeouts

	// PrivacyOptions are the words of every PrivacyOptions line, lower
	// case, in order (the lines add up).
	PrivacyOptions []string
	// AuthOptions are the flags of AuthOptions (split at blanks and
	// commas); AuthMechanisms the mechanism names.
	AuthOptions    []string
	AuthMechanisms []string
	// TrustedUser is the user name or uid that may own maps and files;
	// empty means root.
	TrustedUser string
	// DefaultUser is "user", "user:group" or "uid:gid" as written. Empty
	// means sendmail's run-time choice: the first of mailnull, sendmail,
	// daemon that exists, else 1:1.
	DefaultUser string
	// RunAsUser is as written; empty when unset.
	RunAsUser string
	// SmtpGreetingMessage is the text after "220 " (macros unexpanded).
	SmtpGreetingMessage string
	UnixFromLine        string
	OperatorChars       string

	ServerCertFile, ServerKeyFile string
	ClientCertFile, ClientKeyFile string
	CACertFile, CACertPath        string
	DHParameters                  string
	CipherList                    string
	TLSSrvOptions                 string

	// DeliveryMode is the first letter of DeliveryMode: 'b'ackground,
	// 'i'nteractive, 'q'ueueonly or 'd'eferred (empty value: 'i').
	DeliveryMode byte
	MinQueueAge  time.Duration
	MaxQueueAge  time.Duration

	HelpFile            string
	StatusFile          string
	PidFile             string
	ControlSocketName   string
	HostStatusDirectory string
	DeadLetterDrop      string
	SafeFileEnvironment string
	DoubleBounceAddress string
	HeloName            string

	SoftBounce                 bool
	RejectNUL                  bool
	DontProbeInterfaces        bool
	UseCompressedIPv6Addresses bool
	SuperSafe                  string
	DontBlameSendmail          []string
	InputMailFilters           []string
	QueueFileMode              uint32
	TempFileMode               uint32
}

// Timeouts are the Timeout.* options.
type Timeouts struct {
	Initial, Helo, Mail, Rcpt, DataInit, DataBlock, DataFinal time.Duration
	Rset, Quit, Misc, Command, Ident, FileOpen, Control, LHLO time.Duration
	Connect, IConnect, AConnect, Auth, StartTLS, HostStatus   time.Duration
	// QueueReturn and QueueWarn per precedence class.
	QueueReturn, QueueWarn QueueTimes
	// Resolver settings (seconds and counts); -1 means the resolver's
	// own default.
	ResolverRetransFirst, ResolverRetransNormal int
	ResolverRetryFirst, ResolverRetryNormal     int
}

// QueueTimes holds a queue timeout for each precedence class.
type QueueTimes struct {
	Normal, Urgent, NonUrgent, DSN time.Duration
}

func defaultSettings() Settings {
	return Settings{
		ConnectionRateWindowSize: dur(60, time.Second),
		MaxHopCount:              25,
		MaxHeadersLength:         32768,
		MaxRunnersPerQueue:       1,
		LogLevel:                 9,
		SmtpGreetingMessage:      "$j Sendmail $v ready at $b",
		UnixFromLine:             "From $g $d",
		DeliveryMode:             'b',
		DoubleBounceAddress:      "postmaster",
		SuperSafe:                "True",
		QueueFileMode:            0o600,
		TempFileMode:             0o600,
		Timeouts: Timeouts{
			Initial: dur(5, time.Minute), Helo: dur(5, time.Minute), Mail: dur(10, time.Minute),
			Rcpt: time.Hour, DataInit: dur(5, time.Minute), DataBlock: time.Hour, DataFinal: time.Hour,
			Rset: dur(5, time.Minute), Quit: dur(2, time.Minute), Misc: dur(2, time.Minute),
			Command: time.Hour, Ident: dur(5, time.Second), FileOpen: dur(60, time.Second),
			Control: dur(2, time.Minute), LHLO: dur(2, time.Minute), Auth: dur(10, time.Minute),
			StartTLS: time.Hour, HostStatus: dur(30, time.Minute),
			QueueReturn:          QueueTimes{Normal: dur(5*24, time.Hour), Urgent: dur(2*24, time.Hour), NonUrgent: dur(7*24, time.Hour), DSN: dur(5*24, time.Hour)},
			QueueWarn:            QueueTimes{Normal: dur(4, time.Hour), Urgent: time.Hour, NonUrgent: dur(12, time.Hour), DSN: dur(4, time.Hour)},
			ResolverRetransFirst: -1, ResolverRetransNormal: -1, ResolverRetryFirst: -1, ResolverRetryNormal: -1,
		},
	}
}

// optionLine handles "O Name=value", "O Name.sub=value" and the legacy
// one-letter "Oxvalue".
func (p *parser) optionLine(l string) {
	if len(l) < 2 {
		p.errorf("readcf: null option name")
		return
	}
	if l[1] != ' ' && l[1] != '\t' {
		c := l[1]
		val := l[2:]
		if c == 'M' { // OMx value: define macro x
			if val != "" {
				p.cfg.Macros[string(val[0])] = val[1:]
			}
			return
		}
		i := optionByCode(c)
		if i < 0 {
			return // sendmail ignores unknown one-letter options (debug 37 warns)
		}
		p.setOption(Option{Name: optionTab[i].name, Value: val, Line: p.line})
		return
	}
	s := strings.TrimLeft(l[1:], " \t")
	name, val, _ := strings.Cut(s, "=")
	name = strings.TrimRight(name, " ")
	val = strings.TrimLeft(val, " ")
	if name == "" {
		p.errorf("readcf: null option name")
		return
	}
	base, sub, hasSub := strings.Cut(name, ".")
	i, msg := lookupOption(base)
	if i < 0 {
		p.errorf("%s", msg)
		return
	}
	o := optionTab[i]
	if len(base) != len(o.name) {
		p.warnf("Option %s used as abbreviation for %s", base, o.name)
	}
	if hasSub && !o.subopt {
		// sendmail prints this one without file and line.
		p.cfg.Warnings = append(p.cfg.Warnings, "setoption: "+o.name+" does not support suboptions, ignoring ."+sub)
		sub = ""
	}
	p.setOption(Option{Name: o.name, Sub: sub, Value: val, Line: p.line})
}

// setOption records the option and updates the typed settings the way
// setoption interprets each value.
func (p *parser) setOption(o Option) {
	p.cfg.Options = append(p.cfg.Options, o)
	s := &p.cfg.Settings
	v := o.Value
	switch o.Name {
	case "DaemonPortOptions":
		po := parsePortOptions(v, true)
		if po.Name == "" {
			po.Name = "Daemon" + strconv.Itoa(len(s.DaemonPortOptions))
		}
		s.DaemonPortOptions = append(s.DaemonPortOptions, po)
		for _, e := range po.errs {
			p.errorf("%s", e)
		}
	case "ClientPortOptions":
		po := parsePortOptions(v, false)
		s.ClientPortOptions = append(s.ClientPortOptions, po)
		for _, e := range po.errs {
			p.errorf("%s", e)
		}
	case "QueueDirectory":
		if v == "" {
			v = "mqueue"
		}
		s.QueueDirectory = v
	case "AliasFile":
		if v == "" {
			v = "aliases"
		}
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				s.AliasFiles = append(s.AliasFiles, a)
			}
		}
	case "ForwardPath":
		s.ForwardPath = strings.Split(v, ":")
	case "MaxMessageSize":
		s.MaxMessageSize = atol(v)
	case "MaxRecipientsPerMessage":
		s.MaxRecipientsPerMessage = int(atol(v))
	case "MaxDaemonChildren":
		s.MaxDaemonChildren = int(atol(v))
	case "ConnectionRateThrottle":
		s.ConnectionRateThrottle = int(atol(v))
	case "ConnectionRateWindowSize":
		s.ConnectionRateWindowSize = p.convtime(v, 's')
	case "BadRcptThrottle":
		s.BadRcptThrottle = int(atol(v))
	case "MaxHopCount":
		s.MaxHopCount = int(atol(v))
	case "MaxHeadersLength":
		s.MaxHeadersLength = int(atol(v))
	case "MaxRunnersPerQueue":
		s.MaxRunnersPerQueue = int(atol(v))
	case "LogLevel":
		s.LogLevel = int(atol(v))
	case "Timeout":
		p.setTimeout(o.Sub, v)
	case "PrivacyOptions":
		for _, w := range strings.FieldsFunc(v, isFlagSep) {
			if !privacyWords[strings.ToLower(w)] {
				p.errorf("readcf: Op line: %s unrecognized", w)
				continue
			}
			s.PrivacyOptions = append(s.PrivacyOptions, strings.ToLower(w))
		}
	case "AuthOptions":
		s.AuthOptions = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	case "AuthMechanisms":
		s.AuthMechanisms = strings.Fields(v)
	case "TrustedUser":
		s.TrustedUser = v
		if v != "" && !isDigit(v[0]) {
			p.checkUser(v, "", "readcf: option TrustedUser: unknown user %s", "")
		}
	case "DefaultUser":
		s.DefaultUser = v
		u, g := splitUserGroup(v)
		p.checkUser(u, g, "readcf: option u: unknown user %s", "readcf: option u: unknown group %s")
	case "RunAsUser":
		s.RunAsUser = v
		u, g := splitUserGroup(v)
		p.checkUser(u, g, "readcf: option RunAsUser: unknown user %s", "readcf: option RunAsUser: unknown group %s")
	case "SmtpGreetingMessage":
		s.SmtpGreetingMessage = v
	case "UnixFromLine":
		s.UnixFromLine = v
	case "OperatorChars":
		s.OperatorChars = v
	case "ServerCertFile":
		s.ServerCertFile = v
	case "ServerKeyFile":
		s.ServerKeyFile = v
	case "ClientCertFile":
		s.ClientCertFile = v
	case "ClientKeyFile":
		s.ClientKeyFile = v
	case "CACertFile":
		s.CACertFile = v
	case "CACertPath":
		s.CACertPath = v
	case "DHParameters":
		s.DHParameters = v
	case "CipherList":
		s.CipherList = v
	case "TLSSrvOptions":
		s.TLSSrvOptions = v
	case "DeliveryMode":
		m := byte('i')
		if v != "" {
			m = v[0]
		}
		switch m {
		case 'b', 'i', 'q', 'd':
			s.DeliveryMode = m
		default:
			p.errorf("Unknown delivery mode %c", m)
		}
	case "MinQueueAge":
		s.MinQueueAge = p.convtime(v, 'm')
	case "MaxQueueAge":
		s.MaxQueueAge = p.convtime(v, 'm')
	case "HelpFile":
		if v == "" {
			v = "helpfile"
		}
		s.HelpFile = v
	case "StatusFile":
		if v == "" {
			v = "statistics"
		}
		s.StatusFile = v
	case "PidFile":
		s.PidFile = v
	case "ControlSocketName":
		s.ControlSocketName = v
	case "HostStatusDirectory":
		s.HostStatusDirectory = v
	case "DeadLetterDrop":
		s.DeadLetterDrop = v
	case "SafeFileEnvironment":
		s.SafeFileEnvironment = v
	case "DoubleBounceAddress":
		s.DoubleBounceAddress = v
	case "HeloName":
		s.HeloName = v
	case "SoftBounce":
		s.SoftBounce = atobool(v)
	case "RejectNUL":
		s.RejectNUL = atobool(v)
	case "DontProbeInterfaces":
		s.DontProbeInterfaces = atobool(v)
	case "UseCompressedIPv6Addresses":
		s.UseCompressedIPv6Addresses = atobool(v)
	case "SuperSafe":
		s.SuperSafe = v
	case "DontBlameSendmail":
		s.DontBlameSendmail = nil
		for _, w := range strings.FieldsFunc(v, isFlagSep) {
			if !dontBlameWords[strings.ToLower(w)] {
				p.errorf("readcf: DontBlameSendmail option: %s unrecognized", w)
				continue
			}
			s.DontBlameSendmail = append(s.DontBlameSendmail, w)
		}
	case "InputMailFilters":
		s.InputMailFilters = nil
		for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			s.InputMailFilters = append(s.InputMailFilters, w)
		}
	case "QueueFileMode":
		s.QueueFileMode = uint32(atooct(v)) & 0o777
	case "TempFileMode":
		s.TempFileMode = uint32(atooct(v)) & 0o777
	}
}

// isFlagSep separates the words of PrivacyOptions and DontBlameSendmail.
func isFlagSep(r rune) bool {
	return r == ',' || r == ' ' || r == '\t' || r == ';' || r == ':' || r == '\n'
}

// privacyWords are the PrivacyOptions sendmail 8.17 knows.
var privacyWords = wordSet("public needmailhelo needexpnhelo needvrfyhelo noexpn novrfy restrictexpand " +
	"restrictmailq restrictqrun noetrn noverb authwarnings noreceipts nobodyreturn goaway noactualrecipient")

// dontBlameWords are the DontBlameSendmail flags sendmail 8.17 knows.
var dontBlameWords = wordSet("safe assumesafechown classfileinunsafedirpath dontwarnforwardfileinunsafedirpath " +
	"errorheaderinunsafedirpath filedeliverytohardlink filedeliverytosymlink forwardfileinunsafedirpath " +
	"forwardfileingroupwritabledirpath groupreadabledefaultauthinfofile groupreadablekeyfile " +
	"groupreadablesasldbfile groupwritablealiasfile groupwritabledirpathsafe groupwritableforwardfile " +
	"groupwritableforwardfilesafe groupwritableincludefile groupwritableincludefilesafe groupwritablesasldbfile " +
	"helpfileinunsafedirpath includefileingroupwritabledirpath includefileinunsafedirpath insufficiententropy " +
	"linkedaliasfileinwritabledir linkedclassfileinwritabledir linkedforwardfileinwritabledir " +
	"linkedincludefileinwritabledir linkedmapinwritabledir linkedserviceswitchfileinwritabledir mapinunsafedirpath " +
	"nonrootsafeaddr runprograminunsafedirpath runwritableprogram truststickybit worldwritablealiasfile " +
	"worldwritableforwardfile worldwritableincludefile writemaptohardlink writemaptosymlink writestatstohardlink " +
	"writestatstosymlink")

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// splitUserGroup splits "user:group" (also "." or "/") as setoption does.
func splitUserGroup(v string) (user, group string) {
	if i := strings.IndexAny(v, ".:/"); i >= 0 {
		return v[:i], v[i+1:]
	}
	return v, ""
}

// checkUser reports user and group names the host does not know, as
// sendmail does when it reads the option. Numbers are not checked.
func (p *parser) checkUser(u, g, userMsg, groupMsg string) {
	if p.opts.NoUserLookup {
		return
	}
	if u != "" && !isDigit(u[0]) {
		if _, err := user.Lookup(u); err != nil {
			p.errorf(userMsg, u)
			return
		}
	}
	if g != "" && !isDigit(g[0]) && groupMsg != "" {
		if _, err := user.LookupGroup(g); err != nil {
			p.errorf(groupMsg, g)
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// atol is C's atol: leading blanks, an optional sign, digits; anything
// else ends the number (so "abc" is 0, as sendmail takes it).
func atol(s string) int64 {
	s = strings.TrimLeft(s, " \t")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var n int64
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int64(s[i]-'0')
		if n > 1<<53 {
			break
		}
	}
	if neg {
		return -n
	}
	return n
}

func atooct(s string) int64 {
	var n int64
	s = strings.TrimLeft(s, " \t")
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '7'; i++ {
		n = n*8 + int64(s[i]-'0')
		if n > 1<<40 {
			break
		}
	}
	return n
}

// atobool is sendmail's: empty, or starting with t, T, y or Y, is true.
func atobool(s string) bool {
	return s == "" || strings.IndexByte("tTyY", s[0]) >= 0
}
