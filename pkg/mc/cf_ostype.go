// SPDX-License-Identifier: MIT

package mc

import (
	"fmt"
	"strings"
)

// OSTYPE and DOMAIN: each system type and each built-in domain is a list of
// steps on the macro state, the settings sendmail-cf's ostype/ and domain/
// files make for that name.

type step func(l *layer)

func def(name, text string) step    { return func(l *layer) { l.e.Define(name, text) } }
func dflt(name, text string) step   { return func(l *layer) { l.defIfNot(name, text) } }
func flags(which, spec string) step { return func(l *layer) { l.modifyMailerFlags(which, spec) } }
func errp(msg string) step          { return func(l *layer) { l.warn("%s", msg) } }
func feat(args ...string) step {
	return func(l *layer) { _ = l.runFeature(args[0], args[1:]) }
}
func local(line string) step { return func(l *layer) { l.localConfig = append(l.localConfig, line) } }

// Building blocks several system types share.
var (
	ebin          = func(dir string) step { return def("confEBINDIR", dir) }
	useTZ         = def("confTIME_ZONE", "USE_TZ")
	usrSpoolQueue = dflt("QUEUE_DIR", "/usr/spool/mqueue")
	varSpoolQueue = dflt("QUEUE_DIR", "/var/spool/mqueue")
	logStatus     = dflt("STATUS_FILE", "/var/log/sendmail.st")
	uuxZ          = dflt("UUCP_MAILER_ARGS", "uux - -r -z -a$g $h!rmail ($u)")
	uuxGC         = dflt("UUCP_MAILER_ARGS", "uux - -r -a$g -gC $h!rmail ($u)")
	uuxPlain      = dflt("UUCP_MAILER_ARGS", "uux - -r -a$g $h!rmail ($u)")
)

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var bsd44 = []step{logStatus, dflt("LOCAL_MAILER_PATH", "/usr/libexec/mail.local"), uuxZ}

var freebsd = []step{logStatus, flags("LOCAL", "+S"), dflt("LOCAL_MAILER_PATH", "/usr/libexec/mail.local"), dflt("LOCAL_MAILER_ARGS", "mail $u")}

var hpuxCommon = []step{dflt("LOCAL_MAILER_PATH", "/usr/bin/rmail"), dflt("LOCAL_MAILER_FLAGS", "m9"), dflt("LOCAL_MAILER_ARGS", "rmail -d $u"), dflt("LOCAL_SHELL_PATH", "/usr/bin/sh"), uuxGC, useTZ}

var solaris2 = []step{dflt("LOCAL_MAILER_PATH", "/usr/lib/mail.local"), dflt("LOCAL_MAILER_FLAGS", "fSmn9"), dflt("LOCAL_MAILER_ARGS", "mail.local -d $u"), uuxPlain, ebin("/usr/lib")}

var unicosFiles = []step{def("ALIAS_FILE", "/usr/lib/aliases"), def("HELP_FILE", "/usr/lib/sendmail.hf"), def("QUEUE_DIR", "/usr/spool/mqueue"), def("STATUS_FILE", "/usr/lib/sendmail.st")}

// irix5.m4 and irix6.m4 carry a define in a header comment; comments are
// off once cf.m4 is in, so it takes effect.
var irix56 = []step{def("LOCAL_MAILER_CHARSET", "iso-8859-1"), dflt("LOCAL_MAILER_FLAGS", "Ehmu9"), dflt("LOCAL_MAILER_ARGS", "mail -s -d $u"), varSpoolQueue, dflt("STATUS_FILE", "/var/sendmail.st"), def("confDEF_USER_ID", "998:998"), useTZ, ebin("/usr/lib")}

// ostypes holds every system type sendmail-cf 8.17 ships in ostype/.
var ostypes = map[string][]step{
	"a-ux":       {usrSpoolQueue, dflt("UUCP_MAILER_PATH", "/usr/bin/uux"), dflt("LOCAL_MAILER_FLAGS", "mn9"), dflt("LOCAL_MAILER_ARGS", "mail -d -r $f $u"), ebin("/usr/lib")},
	"aix3":       {dflt("LOCAL_MAILER_PATH", "/bin/bellmail"), dflt("LOCAL_MAILER_ARGS", "mail $u"), dflt("LOCAL_MAILER_FLAGS", "mn9"), ebin("/usr/lib"), useTZ},
	"aix4":       {dflt("LOCAL_MAILER_PATH", "/bin/bellmail"), dflt("LOCAL_MAILER_ARGS", "mail -F $g $u"), dflt("LOCAL_MAILER_FLAGS", "mn9"), ebin("/usr/lib"), useTZ},
	"aix5":       {dflt("LOCAL_MAILER_PATH", "/bin/bellmail"), dflt("LOCAL_MAILER_ARGS", "mail -F $g $u"), dflt("LOCAL_MAILER_FLAGS", "mn9"), ebin("/usr/lib"), useTZ},
	"altos":      {usrSpoolQueue, dflt("UUCP_MAILER_PATH", "/usr/bin/uux"), dflt("LOCAL_MAILER_PATH", "/usr/bin/lmail"), dflt("LOCAL_MAILER_FLAGS", "mPuhCE9"), dflt("LOCAL_MAILER_ARGS", "lmail $u"), dflt("LOCAL_SHELL_FLAGS", "Peu"), dflt("UUCP_MAILER_ARGS", "uux - -r -a$g $h!rmail ($u)"), ebin("/usr/lib")},
	"amdahl-uts": {dflt("LOCAL_MAILER_FLAGS", "fSn9"), ebin("/usr/lib")},
	"bsd4.3":     {usrSpoolQueue, uuxZ},
	"bsd4.4":     bsd44,
	"bsdi":       bsd44,
	"bsdi1.0":    concat([]step{errp("NOTE: OSTYPE(bsdi1.0) is deprecated.  Use OSTYPE(bsdi) instead.")}, bsd44),
	"bsdi2.0":    concat([]step{errp("NOTE: OSTYPE(bsdi2.0) is deprecated.  Use OSTYPE(bsdi) instead.")}, bsd44),
	"darwin":     {logStatus, flags("LOCAL", "+S"), dflt("LOCAL_MAILER_PATH", "/usr/libexec/mail.local"), uuxZ, def("confDONT_BLAME_SENDMAIL", "AssumeSafeChown,GroupWritableDirPathSafe")},
	"debian":     debianOstype,
	"dgux":       {dflt("LOCAL_MAILER_FLAGS", "m9"), useTZ, ebin("/usr/lib"), local("E_FORCE_MAIL_LOCAL_=yes")},
	"domainos":   {usrSpoolQueue, ebin("/usr/lib")},
	"dragonfly":  concat(freebsd, []step{dflt("UUCP_MAILER_PATH", "/usr/local/bin/uux"), uuxZ}),
	"dynix3.2":   {usrSpoolQueue, ebin("/usr/lib")},
	"freebsd4":   concat(freebsd, []step{uuxZ}),
	"freebsd5":   concat(freebsd, []step{dflt("UUCP_MAILER_PATH", "/usr/local/bin/uux"), uuxZ}),
	"freebsd6":   concat(freebsd, []step{dflt("UUCP_MAILER_PATH", "/usr/local/bin/uux"), uuxZ}),
	"gnu":        {logStatus, dflt("LOCAL_MAILER_PATH", "/libexec/mail.local"), dflt("LOCAL_MAILER_ARGS", "mail $u"), ebin("/libexec")},
	"hpux10":     concat([]step{varSpoolQueue}, hpuxCommon),
	"hpux11":     hpuxCommon,
	"hpux9":      {usrSpoolQueue, dflt("LOCAL_MAILER_PATH", "/bin/rmail"), dflt("LOCAL_MAILER_FLAGS", "m9"), dflt("LOCAL_MAILER_ARGS", "rmail -d $u"), uuxGC, useTZ, ebin("/usr/lib")},
	"irix4":      {dflt("LOCAL_MAILER_FLAGS", "Ehm9"), usrSpoolQueue, ebin("/usr/lib")},
	"irix5":      irix56,
	"irix6":      irix56,
	"isc4.1":     {dflt("LOCAL_MAILER_ARGS", "lmail -s $u"), dflt("LOCAL_MAILER_FLAGS", "humS9"), dflt("LOCAL_MAILER_PATH", "/bin/lmail"), usrSpoolQueue, dflt("UUCP_MAILER_ARGS", "uux - -r -gC $h!rmail ($u)"), dflt("UUCP_MAILER_PATH", "/usr/bin/uux"), useTZ, ebin("/usr/lib")},
	// linux.m4 defines PROCMAIL_MAILER_PATH while collecting ifdef's
	// arguments, so the definition happens whether or not it was set.
	"linux":         {ebin("/usr/sbin"), def("PROCMAIL_MAILER_PATH", "/usr/bin/procmail"), feat("local_procmail")},
	"maxion":        {def("QUEUE_DIR", "/var/spool/mqueue"), def("STATUS_FILE", "/var/adm/log/sendmail.st"), def("LOCAL_MAILER_PATH", "/usr/bin/mail"), def("LOCAL_SHELL_FLAGS", "ehuP"), def("LOCAL_MAILER_ARGS", "mail $u"), def("UUCP_MAILER_ARGS", "uux - -r -a$g -gmedium $h!rmail ($u)"), ebin("/usr/ucblib")},
	"mklinux":       {ebin("/usr/sbin"), logStatus, dflt("PROCMAIL_MAILER_PATH", "/usr/bin/procmail"), feat("local_procmail")},
	"mpeix":         {dflt("LOCAL_MAILER_PATH", "/bin/tsmail"), dflt("LOCAL_MAILER_FLAGS", "mu9"), dflt("LOCAL_MAILER_ARGS", "tsmail $u"), dflt("LOCAL_SHELL_PATH", "/bin/sh"), dflt("confDEF_USER_ID", "SERVER.SENDMAIL"), dflt("confTRUSTED_USER", "SERVER.SENDMAIL"), useTZ, def("confDONT_BLAME_SENDMAIL", "ForwardFileInGroupWritableDirPath")},
	"nextstep":      {dflt("UUCP_MAILER_PATH", "/usr/bin/uux"), usrSpoolQueue, dflt("LOCAL_SHELL_FLAGS", "euP"), ebin("/usr/lib")},
	"openbsd":       {logStatus, dflt("LOCAL_MAILER_PATH", "/usr/libexec/mail.local"), dflt("LOCAL_MAILER_FLAGS", "rmn9S"), uuxZ},
	"osf1":          {dflt("STATUS_FILE", "/usr/adm/sendmail/sendmail.st"), def("confDEF_USER_ID", "daemon"), ebin("/usr/lbin")},
	"powerux":       {def("LOCAL_MAILER_PATH", "/usr/bin/rmail"), dflt("LOCAL_MAILER_FLAGS", "mn9"), def("LOCAL_MAILER_ARGS", "rmail $u"), def("LOCAL_SHELL_FLAGS", "ehuP"), def("UUCP_MAILER_ARGS", "uux - -r -a$g -gmedium $h!rmail ($u)"), ebin("/usr/local/lib")},
	"ptx2":          {usrSpoolQueue, def("LOCAL_MAILER_PATH", "/bin/mail"), dflt("LOCAL_MAILER_FLAGS", "fmn9"), def("LOCAL_SHELL_FLAGS", "eu"), ebin("/usr/lib")},
	"qnx":           {def("QUEUE_DIR", "/usr/spool/mqueue"), def("LOCAL_MAILER_ARGS", "mail $u"), dflt("LOCAL_MAILER_FLAGS", "Sh"), def("LOCAL_MAILER_PATH", "/usr/bin/mailx"), def("UUCP_MAILER_ARGS", "uux - -r -z -a$f $h!rmail ($u)")},
	"riscos4.5":     {dflt("LOCAL_MAILER_ARGS", "rmail -d $u"), usrSpoolQueue, ebin("/usr/lib")},
	"sco-uw-2.1":    {def("LOCAL_MAILER_PATH", "/usr/bin/rmail"), dflt("LOCAL_MAILER_FLAGS", "fhCEn9"), def("LOCAL_SHELL_FLAGS", "ehuP"), def("UUCP_MAILER_ARGS", "uux - -r -a$g -gmedium $h!rmail ($u)"), def("LOCAL_MAILER_ARGS", "rmail $u"), ebin("/usr/lib"), useTZ},
	"sco3.2":        {usrSpoolQueue, dflt("UUCP_MAILER_PATH", "/usr/bin/uux"), dflt("LOCAL_MAILER_PATH", "/usr/bin/lmail"), dflt("LOCAL_MAILER_FLAGS", "PuhCE9"), dflt("LOCAL_MAILER_ARGS", "lmail $u"), dflt("LOCAL_SHELL_FLAGS", "Peu"), ebin("/usr/lib")},
	"sinix":         {varSpoolQueue, def("LOCAL_MAILER_PATH", "/bin/mail.local"), dflt("STATUS_FILE", "/var/sendmail.st"), ebin("/usr/ucblib")},
	"solaris11":     {uuxPlain, ebin("/usr/lib"), def("confPID_FILE", "/system/volatile/sendmail.pid"), def("_NETINET6_", ""), feat("local_lmtp")},
	"solaris2":      solaris2,
	"solaris2.ml":   solaris2,
	"solaris2.pre5": {dflt("LOCAL_MAILER_FLAGS", "SnE9"), dflt("LOCAL_MAILER_ARGS", "mail -f $g -d $u"), uuxPlain, ebin("/usr/lib")},
	"solaris8":      {uuxPlain, ebin("/usr/lib"), def("confPID_FILE", "/var/run/sendmail.pid"), def("_NETINET6_", ""), feat("local_lmtp")},
	"sunos3.5":      {ebin("/usr/lib")},
	"sunos4.1":      {ebin("/usr/lib")},
	"svr4":          {def("LOCAL_MAILER_PATH", "/usr/ucblib/binmail"), def("LOCAL_SHELL_FLAGS", "ehuP"), def("UUCP_MAILER_ARGS", "uux - -r -a$g -gmedium $h!rmail ($u)"), ebin("/usr/ucblib")},
	"ultrix4":       {ebin("/usr/lib")},
	"unicos":        concat(unicosFiles, []step{flags("LOCAL", "+aSPpmnxXu"), flags("SMTP", "+anpeLC"), def("LOCAL_SHELL_FLAGS", "pxehu"), def("confPID_FILE", "/etc/sendmail.pid")}),
	// unicosmk.m4 writes MODIFY_MAILER_FLAGS(`LOCAL' , ...): the space
	// names another mailer, so the local flags stay as they are.
	"unicosmk":  concat(unicosFiles, []step{flags("LOCAL ", "+aSPpmnxXu"), flags("SMTP", "+anpeLC"), def("LOCAL_SHELL_FLAGS", "lsDFMpxehuo"), def("confPID_FILE", "/etc/sendmail.pid")}),
	"unicosmp":  {dflt("LOCAL_MAILER_FLAGS", "Ehm9"), dflt("LOCAL_MAILER_ARGS", "mail -s -d $u"), varSpoolQueue, logStatus, def("LOCAL_MAILER_PATH", "/usr/bin/mail"), useTZ, ebin("/usr/lib")},
	"unixware7": {varSpoolQueue, ebin("/usr/lib"), useTZ, dflt("LOCAL_MAILER_PATH", "/etc/mail/slocal"), dflt("LOCAL_MAILER_FLAGS", "Puho9"), dflt("LOCAL_MAILER_ARGS", "slocal -user $u"), dflt("LOCAL_SHELL_FLAGS", "Peu")},
	"unknown":   {errp("*** ERROR: You have not specified a valid operating system type."), errp("\tUse the OSTYPE macro to select a valid system type.  This"), errp("\tis necessary in order to get the proper pathnames and flags"), errp("\tappropriate for your environment.")},
	"uxpds":     {def("confDEF_GROUP_ID", "6"), def("LOCAL_MAILER_PATH", "/usr/ucblib/binmail"), def("LOCAL_SHELL_FLAGS", "ehuP"), def("UUCP_MAILER_ARGS", "uux - -r -a$f -gmedium $h!rmail ($u)"), ebin("/usr/ucblib")},
}

// debianAutoconf stands for Debian's debian/autoconf.m4: what the Debian
// build of sendmail 8.17.1.9-2+deb12u2 was configured with. debian.m4,
// debian-mta.m4 and debian-msp.m4 read these to choose their settings.
var debianAutoconf = [][2]string{
	{"SM_VERS", "8.17.1"},
	{"SM_MINVERS", "8.15.0"},
	{"SM_MAXVERS", "9.0.0"},
	{"sm_version", "8.17.1.9"},
	{"sm_revision", "-2+deb12u2"},
	{"sm_version_v", "8"},
	{"sm_version_r", "17"},
	{"sm_version_major", "8.17"},
	{"sm_version_minor", "1"},
	{"sm_version_beta", ""},
	{"sm_version_math", "528641"},
	{"sm_enable_regex", "yes"},
	{"sm_enable_ndbm", "no"},
	{"sm_enable_newdb", "yes"},
	{"sm_enable_nis", "yes"},
	{"sm_enable_nisplus", "yes"},
	{"sm_enable_ldap", "yes"},
	{"sm_enable_hesiod", "no"},
	{"sm_enable_tcpd", "yes"},
	{"sm_enable_ipv6", "yes"},
	{"sm_enable_maillock", "yes"},
	{"sm_enable_milter", "yes"},
	{"sm_enable_sfio", "no"},
	{"sm_enable_auth", "yes"},
	{"sm_enable_tls", "yes"},
	{"sm_enable_shm", "yes"},
	{"sm_ffr", " -D_FFR_QUEUE_SCHED_DBG -D_FFR_REJECT_NUL_BYTE -D_FFR_SKIP_DOMAINS -D_FFR_NO_PIPE -D_FFR_SHM_STATUS -D_FFR_RHS -D_FFR_MAIL_MACRO -D_FFR_BADRCPT_SHUTDOWN -D_FFR_TLS_ALTNAMES -D_FFR_MTA_STS -D_FFR_RESET_MACRO_GLOBALS -D_FFR_TLS_EC"},
}

// debianVersionMath is sm_version_math of the build above (8.17.1 as
// 8<<16 | 17<<8 | 1); the Debian files compare it with thresholds.
const debianVersionMath = 528641

func debianAutoconfStep(l *layer) {
	if l.defined("sm_version") {
		return
	}
	for _, d := range debianAutoconf {
		l.e.Define(d[0], d[1])
	}
}

var debianOstype = []step{
	debianAutoconfStep,
	def("confCF_VERSION", "Debian-2+deb12u2"),
	dflt("MAIL_SETTINGS_DIR", "/etc/mail/"),
	dflt("_USE_ETC_MAIL_", ""),
	def("confSMTP_LOGIN_MSG", "$j Sendmail $v/$Z; $b; (No UCE/UBE) $?{client_addr}logging access from: ${client_name}(${client_resolve})-$_$."),
	def("confDEAD_LETTER_DROP", "/var/lib/sendmail/dead.letter"),
	def("STATUS_FILE", "/var/lib/sendmail/sendmail.st"),
	def("confHOST_STATUS_DIRECTORY", "/var/lib/sendmail/host_status"),
	def("confCR_FILE", "-o MAIL_SETTINGS_DIR`'relay-domains %[^\\#]"),
	def("confCT_FILE", "MAIL_SETTINGS_DIR`'trusted-users %[^\\#]"),
	def("confCW_FILE", "MAIL_SETTINGS_DIR`'local-host-names %[^\\#]"),
	def("confEBINDIR", "/usr/libexec/sendmail"),
	def("confMUST_QUOTE_CHARS", ".'"),
	def("confME_TOO", "True"),
	def("confDEF_USER_ID", "mail:mail"),
	func(l *layer) {
		if strings.Contains(l.raw("sm_ffr"), "-D_FFR_REJECT_NUL_BYTE") {
			l.e.Define("confREJECT_NUL", "true")
		}
	},
	def("LOCAL_MAILER_PATH", "/usr/sbin/sensible-mda"),
	def("LOCAL_MAILER_ARGS", "sensible-mda $g $u $h ${client_addr}"),
	flags("LOCAL", "+S"),
	flags("LOCAL", "-r"),
	flags("LOCAL", "-m"),
	def("PROCMAIL_MAILER_PATH", "/usr/bin/procmail"),
	def("PROCMAIL_MAILER_ARGS", "procmail -m $h $f $u"),
	def("USENET_MAILER_PATH", "/usr/bin/inews"),
	def("UUCP_MAILER_ARGS", "uux - -r -z -a$g -gC $h!rmail ($u)"),
	func(l *layer) {
		if l.flat("sm_enable_ipv6") == "yes" && l.versionMath() >= 527360 {
			l.e.Define("confBIND_OPTS", "+WorkAroundBrokenAAAA")
		}
		if l.flat("sm_enable_milter") == "yes" {
			l.e.Define("_FFR_MILTER", "")
		}
		l.e.Define("_FFR_MAIL_MACRO", "")
	},
}

// versionMath is sm_version_math as a number (0 when not set).
func (l *layer) versionMath() int {
	var n int
	fmt.Sscanf(l.flat("sm_version_math"), "%d", &n)
	return n
}

func (l *layer) ostype(_ *Engine, a []string) (string, error) {
	name := arg(a, 1)
	if l.defined("__OSTYPE__") {
		l.warn("duplicate OSTYPE(%s)\n", name)
	}
	l.e.Define("__OSTYPE__", name)
	l.e.Define("_ARG_", arg(a, 2))
	steps, ok := ostypes[name]
	if !ok {
		p := l.cfDir + "ostype/" + name + ".m4"
		return "", fmt.Errorf("cannot open `%s': No such file or directory", p)
	}
	for _, s := range steps {
		s(l)
	}
	return l.flushDiv0(), nil
}

// debian-mta.m4 adds to DontBlameSendmail by sendmail version.
func debianMtaDBS(l *layer) {
	add := func(s string) {
		l.e.Define("confDONT_BLAME_SENDMAIL", l.raw("confDONT_BLAME_SENDMAIL")+s)
	}
	v := l.versionMath()
	if v >= 526592 {
		add(",AssumeSafeChown,ForwardFileInGroupWritableDirPath,GroupWritableForwardFileSafe,GroupWritableIncludeFileSafe,IncludeFileInGroupWritableDirPath")
	}
	if v >= 526848 {
		add(",DontWarnForwardFileInUnsafeDirPath,TrustStickyBit,NonRootSafeAddr")
	}
	if v >= 527360 {
		add(",GroupWritableIncludeFile")
		if v < 528128 {
			add(",GroupReadableaDefaultAuthInfoFile")
		} else {
			add(",GroupReadableDefaultAuthInfoFile")
		}
	}
	if v >= 526848 && v < 527360 {
		_ = l.runFeature("no_default_msa", nil)
	}
	if v >= 527360 {
		l.e.Define("confQUEUE_FILE_MODE", "0640")
		l.e.Define("confTEMP_FILE_MODE", "0640")
	}
	l.e.Define("confPRIVACY_FLAGS", "restrictqrun")
	if v >= 527360 {
		// The real file writes dnl right after the comma, so the
		// indentation of the next line becomes part of the value.
		l.e.Define("confPRIVACY_FLAGS", "    "+l.raw("confPRIVACY_FLAGS")+",restrictexpand")
	}
	l.defIfNot("confTRUSTED_USER", "smmta")
	l.e.Define("confMAX_RUNNERS_PER_QUEUE", "5")
}

// domains are the DOMAIN() names built in; others are read from a
// sendmail-cf tree when there is one.
var domains = map[string][]step{
	"generic": {
		def("confFORWARD_PATH", "$z/.forward.$w+$h:$z/.forward+$h:$z/.forward.$w:$z/.forward"),
		def("confMAX_HEADERS_LENGTH", "32768"),
		feat("redirect"),
		feat("use_cw_file"),
		func(l *layer) { l.classes = append(l.classes, "C{E}root") },
	},
	"debian-mta": {
		debianAutoconfStep,
		def("DEBIAN_MTA", ""),
		def("STATUS_FILE", "/var/lib/sendmail/sendmail.st"),
		def("confHOST_STATUS_DIRECTORY", "/var/lib/sendmail/host_status"),
		def("confPID_FILE", "/var/run/sendmail/mta/sendmail.pid"),
		def("confCONTROL_SOCKET_NAME", "/var/run/sendmail/mta/smcontrol"),
		def("confPROCESS_TITLE_PREFIX", "MTA"),
		def("confMAX_DAEMON_CHILDREN", "0"),
		def("confRRT_IMPLIES_DSN", "False"),
		def("confSAFE_FILE_ENV", "/"),
		def("confSAFE_QUEUE", "True"),
		def("confQUEUE_FILE_MODE", "0600"),
		def("confTEMP_FILE_MODE", "0600"),
		def("confTO_ICONNECT", "2m"),
		def("confTO_MAIL", "2m"),
		def("confTO_DATAINIT", "2m"),
		def("confTO_RSET", "1m"),
		def("confTO_QUIT", "2m"),
		def("confTO_COMMAND", "5m"),
		def("confTO_IDENT", "5s"),
		def("confMAX_HOP", "100"),
		debianMtaDBS,
	},
	"debian-msp": {
		debianAutoconfStep,
		def("DEBIAN_MSP", ""),
		def("confCF_VERSION", "Submit"),
		def("MSP_QUEUE_DIR", "/var/spool/mqueue-client"),
		def("STATUS_FILE", "/var/lib/sendmail/sm-client.st"),
		def("confHOST_STATUS_DIRECTORY", ""),
		def("confPID_FILE", "/var/run/sendmail/msp/sendmail.pid"),
		def("confCONTROL_SOCKET_NAME", "/var/run/sendmail/msp/smcontrol"),
		def("confPROCESS_TITLE_PREFIX", "MSP"),
		def("confRRT_IMPLIES_DSN", "False"),
		def("confSAFE_FILE_ENV", "/"),
		def("confSAFE_QUEUE", "True"),
		def("confQUEUE_FILE_MODE", "0660"),
		def("confTEMP_FILE_MODE", "0640"),
		def("confTO_ICONNECT", "2s"),
		def("confTO_MAIL", "2m"),
		def("confTO_DATAINIT", "2m"),
		def("confTO_RSET", "1m"),
		def("confTO_QUIT", "2m"),
		def("confTO_COMMAND", "5m"),
		def("confTO_IDENT", "5s"),
		def("confTO_HOSTSTATUS", "0"),
		func(l *layer) {
			if l.versionMath() >= 526848 {
				_ = l.runFeature("no_default_msa", nil)
			}
		},
		def("confRUN_AS_USER", "smmsp"),
		func(l *layer) { l.e.Define("confTRUSTED_USER", l.flat("confRUN_AS_USER")) },
	},
}

func (l *layer) domain(_ *Engine, a []string) (string, error) {
	name := arg(a, 1)
	l.e.Define("_ARG_", arg(a, 2))
	steps, ok := domains[name]
	if !ok {
		return l.included("domain", name)
	}
	for _, s := range steps {
		s(l)
	}
	return l.flushDiv0(), nil
}

func (l *layer) hack(_ *Engine, a []string) (string, error) {
	l.e.Define("_ARG_", arg(a, 2))
	return l.included("hack", arg(a, 1))
}
