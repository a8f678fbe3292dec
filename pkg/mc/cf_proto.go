// SPDX-License-Identifier: MIT

package mc

import (
	"fmt"
	"strings"
)

// The body of the cf, written at the end of input as proto.m4 is. Go
// decides which lines exist from the macro state; the values stay macro
// references in an m4 text that the engine expands once, so a value the mc
// defined is rescanned exactly as proto.m4 rescans it.

// opt is one _OPTION of proto.m4: the cf option, the mc macro that sets it
// and the value shown in the "#O" comment when the macro is not defined.
type opt struct{ name, macro, dflt string }

// Special entries in the option list.
const (
	optHelpFile  = "@help"
	optQueueDir  = "@queue"
	optTimeZone  = "@tz"
	optDaemons   = "@daemon"
	optClients   = "@client"
	optMilterOpt = "@milter"
)

// options lists the options in the order proto.m4 writes them.
var options = []opt{
	{"SevenBitInput", "confSEVEN_BIT_INPUT", "False"},
	{"EightBitMode", "confEIGHT_BIT_HANDLING", "pass8"},
	{"AliasWait", "confALIAS_WAIT", "5m"},
	{"AliasFile", "ALIAS_FILE", "MAIL_SETTINGS_DIR`'aliases"},
	{"MinFreeBlocks", "confMIN_FREE_BLOCKS", "100"},
	{"MaxMessageSize", "confMAX_MESSAGE_SIZE", "0"},
	{"BlankSub", "confBLANK_SUB", "_"},
	{"HoldExpensive", "confCON_EXPENSIVE", "False"},
	{"CheckpointInterval", "confCHECKPOINT_INTERVAL", "10"},
	{"DeliveryMode", "confDELIVERY_MODE", "background"},
	{"ErrorHeader", "confERROR_MESSAGE", "MAIL_SETTINGS_DIR`'error-header"},
	{"ErrorMode", "confERROR_MODE", "print"},
	{"SaveFromLine", "confSAVE_FROM_LINES", "False"},
	{"QueueFileMode", "confQUEUE_FILE_MODE", "0600"},
	{"TempFileMode", "confTEMP_FILE_MODE", "0600"},
	{"MatchGECOS", "confMATCH_GECOS", "False"},
	{"MaxHopCount", "confMAX_HOP", "25"},
	{optHelpFile, "", ""},
	{"IgnoreDots", "confIGNORE_DOTS", "False"},
	{"ResolverOptions", "confBIND_OPTS", "+AAONLY"},
	{"SendMimeErrors", "confMIME_FORMAT_ERRORS", "True"},
	{"ForwardPath", "confFORWARD_PATH", "/var/forward/$u:$z/.forward.$w:$z/.forward"},
	{"ConnectionCacheSize", "confMCI_CACHE_SIZE", "2"},
	{"ConnectionCacheTimeout", "confMCI_CACHE_TIMEOUT", "5m"},
	{"HostStatusDirectory", "confHOST_STATUS_DIRECTORY", ".hoststat"},
	{"SingleThreadDelivery", "confSINGLE_THREAD_DELIVERY", "False"},
	{"UseErrorsTo", "confUSE_ERRORS_TO", "False"},
	{"UseCompressedIPv6Addresses", "confUSE_COMPRESSED_IPV6_ADDRESSES", ""},
	{"LogLevel", "confLOG_LEVEL", "10"},
	{"MeToo", "confME_TOO", "True"},
	{"CheckAliases", "confCHECK_ALIASES", "False"},
	{"OldStyleHeaders", "confOLD_STYLE_HEADERS", "False"},
	{optDaemons, "", ""},
	{optClients, "", ""},
	{"DirectSubmissionModifiers", "confDIRECT_SUBMISSION_MODIFIERS", ""},
	{"UseMSP", "confUSE_MSP", ""},
	{"PrivacyOptions", "confPRIVACY_FLAGS", "authwarnings"},
	{"PostmasterCopy", "confCOPY_ERRORS_TO", "Postmaster"},
	{"QueueFactor", "confQUEUE_FACTOR", "600000"},
	{"MaxQueueChildren", "confMAX_QUEUE_CHILDREN", ""},
	{"MaxRunnersPerQueue", "confMAX_RUNNERS_PER_QUEUE", "1"},
	{"NiceQueueRun", "confNICE_QUEUE_RUN", ""},
	{"QueueSortOrder", "confQUEUE_SORT_ORDER", "priority"},
	{"MinQueueAge", "confMIN_QUEUE_AGE", "30m"},
	{"MaxQueueAge", "confMAX_QUEUE_AGE", ""},
	{"MaxQueueRunSize", "confMAX_QUEUE_RUN_SIZE", "0"},
	{"FastSplit", "confFAST_SPLIT", "1"},
	{optQueueDir, "", ""},
	{"SharedMemoryKey", "confSHARED_MEMORY_KEY", "0"},
	{"SharedMemoryKeyFile", "confSHARED_MEMORY_KEY_FILE", ""},
	{"Timeout.initial", "confTO_INITIAL", "5m"},
	{"Timeout.connect", "confTO_CONNECT", "5m"},
	{"Timeout.aconnect", "confTO_ACONNECT", "0s"},
	{"Timeout.iconnect", "confTO_ICONNECT", "5m"},
	{"Timeout.helo", "confTO_HELO", "5m"},
	{"Timeout.mail", "confTO_MAIL", "10m"},
	{"Timeout.rcpt", "confTO_RCPT", "1h"},
	{"Timeout.datainit", "confTO_DATAINIT", "5m"},
	{"Timeout.datablock", "confTO_DATABLOCK", "1h"},
	{"Timeout.datafinal", "confTO_DATAFINAL", "1h"},
	{"Timeout.rset", "confTO_RSET", "5m"},
	{"Timeout.quit", "confTO_QUIT", "2m"},
	{"Timeout.misc", "confTO_MISC", "2m"},
	{"Timeout.command", "confTO_COMMAND", "1h"},
	{"Timeout.ident", "confTO_IDENT", "5s"},
	{"Timeout.fileopen", "confTO_FILEOPEN", "60s"},
	{"Timeout.control", "confTO_CONTROL", "2m"},
	{"Timeout.queuereturn", "confTO_QUEUERETURN", "5d"},
	{"Timeout.queuereturn.normal", "confTO_QUEUERETURN_NORMAL", "5d"},
	{"Timeout.queuereturn.urgent", "confTO_QUEUERETURN_URGENT", "2d"},
	{"Timeout.queuereturn.non-urgent", "confTO_QUEUERETURN_NONURGENT", "7d"},
	{"Timeout.queuereturn.dsn", "confTO_QUEUERETURN_DSN", "5d"},
	{"Timeout.queuewarn", "confTO_QUEUEWARN", "4h"},
	{"Timeout.queuewarn.normal", "confTO_QUEUEWARN_NORMAL", "4h"},
	{"Timeout.queuewarn.urgent", "confTO_QUEUEWARN_URGENT", "1h"},
	{"Timeout.queuewarn.non-urgent", "confTO_QUEUEWARN_NONURGENT", "12h"},
	{"Timeout.queuewarn.dsn", "confTO_QUEUEWARN_DSN", "4h"},
	{"Timeout.hoststatus", "confTO_HOSTSTATUS", "30m"},
	{"Timeout.resolver.retrans", "confTO_RESOLVER_RETRANS", "5s"},
	{"Timeout.resolver.retrans.first", "confTO_RESOLVER_RETRANS_FIRST", "5s"},
	{"Timeout.resolver.retrans.normal", "confTO_RESOLVER_RETRANS_NORMAL", "5s"},
	{"Timeout.resolver.retry", "confTO_RESOLVER_RETRY", "4"},
	{"Timeout.resolver.retry.first", "confTO_RESOLVER_RETRY_FIRST", "4"},
	{"Timeout.resolver.retry.normal", "confTO_RESOLVER_RETRY_NORMAL", "4"},
	{"Timeout.lhlo", "confTO_LHLO", "2m"},
	{"Timeout.auth", "confTO_AUTH", "10m"},
	{"Timeout.starttls", "confTO_STARTTLS", "1h"},
	{"DeliverByMin", "confDELIVER_BY_MIN", "0"},
	{"DontPruneRoutes", "confDONT_PRUNE_ROUTES", "False"},
	{"SuperSafe", "confSAFE_QUEUE", "True"},
	{"StatusFile", "STATUS_FILE", ""},
	{optTimeZone, "", ""},
	{"DefaultUser", "confDEF_USER_ID", "mailnull"},
	{"UserDatabaseSpec", "confUSERDB_SPEC", "MAIL_SETTINGS_DIR`'userdb"},
	{"FallbackMXhost", "confFALLBACK_MX", "fall.back.host.net"},
	{"FallbackSmartHost", "confFALLBACK_SMARTHOST", "fall.back.host.net"},
	{"TryNullMXList", "confTRY_NULL_MX_LIST", "False"},
	{"QueueLA", "confQUEUE_LA", "8"},
	{"RefuseLA", "confREFUSE_LA", "12"},
	{"RejectLogInterval", "confREJECT_LOG_INTERVAL", "3h"},
	{"DelayLA", "confDELAY_LA", "0"},
	{"MaxDaemonChildren", "confMAX_DAEMON_CHILDREN", "0"},
	{"ConnectionRateThrottle", "confCONNECTION_RATE_THROTTLE", "0"},
	{"ConnectionRateWindowSize", "confCONNECTION_RATE_WINDOW_SIZE", "60s"},
	{"RecipientFactor", "confWORK_RECIPIENT_FACTOR", "30000"},
	{"ForkEachJob", "confSEPARATE_PROC", "False"},
	{"ClassFactor", "confWORK_CLASS_FACTOR", "1800"},
	{"RetryFactor", "confWORK_TIME_FACTOR", "90000"},
	{"DefaultCharSet", "confDEF_CHAR_SET", "unknown-8bit"},
	{"ServiceSwitchFile", "confSERVICE_SWITCH_FILE", "MAIL_SETTINGS_DIR`'service.switch"},
	{"HostsFile", "confHOSTS_FILE", "/etc/hosts"},
	{"DialDelay", "confDIAL_DELAY", "0s"},
	{"NoRecipientAction", "confNO_RCPT_ACTION", "none"},
	{"SafeFileEnvironment", "confSAFE_FILE_ENV", ""},
	{"ColonOkInAddr", "confCOLON_OK_IN_ADDR", "True"},
	{"DontExpandCnames", "confDONT_EXPAND_CNAMES", "False"},
	{"SmtpGreetingMessage", "confSMTP_LOGIN_MSG", "$j Sendmail $v ready at $b"},
	{"UnixFromLine", "confFROM_LINE", "From $g $d"},
	{"SingleLineFromHeader", "confSINGLE_LINE_FROM_HEADER", "False"},
	{"AllowBogusHELO", "confALLOW_BOGUS_HELO", "False"},
	{"MustQuoteChars", "confMUST_QUOTE_CHARS", "."},
	{"OperatorChars", "confOPERATORS", ".:@[]"},
	{"DontInitGroups", "confDONT_INIT_GROUPS", "False"},
	{"UnsafeGroupWrites", "confUNSAFE_GROUP_WRITES", "True"},
	{"DoubleBounceAddress", "confDOUBLE_BOUNCE_ADDRESS", "postmaster"},
	{"SoftBounce", "confSOFT_BOUNCE", "False"},
	{"DeadLetterDrop", "confDEAD_LETTER_DROP", "/var/tmp/dead.letter"},
	{"RunAsUser", "confRUN_AS_USER", "sendmail"},
	{"MaxRecipientsPerMessage", "confMAX_RCPTS_PER_MESSAGE", "0"},
	{"BadRcptThrottle", "confBAD_RCPT_THROTTLE", "0"},
	{"DontProbeInterfaces", "confDONT_PROBE_INTERFACES", "False"},
	{"RrtImpliesDsn", "confRRT_IMPLIES_DSN", "False"},
	{"ConnectOnlyTo", "confCONNECT_ONLY_TO", "0.0.0.0"},
	{"TrustedUser", "confTRUSTED_USER", "root"},
	{"ControlSocketName", "confCONTROL_SOCKET_NAME", "/var/spool/mqueue/.control"},
	{"MaxMimeHeaderLength", "confMAX_MIME_HEADER_LENGTH", "0/0"},
	{"MaxHeadersLength", "confMAX_HEADERS_LENGTH", "32768"},
	{"MaxAliasRecursion", "confMAX_ALIAS_RECURSION", "10"},
	{"PidFile", "confPID_FILE", "/var/run/sendmail.pid"},
	{"ProcessTitlePrefix", "confPROCESS_TITLE_PREFIX", "prefix"},
	{"DataFileBufferSize", "confDF_BUFFER_SIZE", "4096"},
	{"XscriptFileBufferSize", "confXF_BUFFER_SIZE", "4096"},
	{"MailboxDatabase", "confMAILBOX_DATABASE", "pw"},
	{"RequiresDirfsync", "confREQUIRES_DIR_FSYNC", "true"},
	{"AuthMechanisms", "confAUTH_MECHANISMS", "EXTERNAL GSSAPI KERBEROS_V4 DIGEST-MD5 CRAM-MD5"},
	{"AuthRealm", "confAUTH_REALM", ""},
	{"DefaultAuthInfo", "confDEF_AUTH_INFO", "MAIL_SETTINGS_DIR`'default-auth-info"},
	{"AuthOptions", "confAUTH_OPTIONS", ""},
	{"AuthMaxBits", "confAUTH_MAX_BITS", ""},
	{"TLSSrvOptions", "confTLS_SRV_OPTIONS", ""},
	{"CipherList", "confCIPHER_LIST", ""},
	{"ServerSSLOptions", "confSERVER_SSL_OPTIONS", ""},
	{"ClientSSLOptions", "confCLIENT_SSL_OPTIONS", ""},
	{"SSLEngine", "confSSL_ENGINE", ""},
	{"SSLEnginePath", "confSSL_ENGINE_PATH", ""},
	{"TLSFallbacktoClear", "confTLS_FALLBACK_TO_CLEAR", ""},
	{"InputMailFilters", "confINPUT_MAIL_FILTERS", ""},
	{optMilterOpt, "", ""},
	{"CACertPath", "confCACERT_PATH", ""},
	{"CACertFile", "confCACERT", ""},
	{"ServerCertFile", "confSERVER_CERT", ""},
	{"ServerKeyFile", "confSERVER_KEY", ""},
	{"ClientCertFile", "confCLIENT_CERT", ""},
	{"ClientKeyFile", "confCLIENT_KEY", ""},
	{"CRLFile", "confCRL", ""},
	{"CRLPath", "confCRL_PATH", ""},
	{"DHParameters", "confDH_PARAMETERS", ""},
	{"RandFile", "confRAND_FILE", ""},
	{"CertFingerprintAlgorithm", "confCERT_FINGERPRINT_ALGORITHM", ""},
	{"DANE", "confDANE", "false"},
	{"MaxNOOPCommands", "confMAX_NOOP_COMMANDS", "20"},
	{"HeloName", "confHELO_NAME", ""},
	{"RejectNUL", "confREJECT_NUL", "false"},
}

// milterOptions are written only when a MAIL_FILTER was declared.
var milterOptions = []opt{
	{"Milter.LogLevel", "confMILTER_LOG_LEVEL", ""},
	{"Milter.macros.connect", "confMILTER_MACROS_CONNECT", ""},
	{"Milter.macros.helo", "confMILTER_MACROS_HELO", ""},
	{"Milter.macros.envfrom", "confMILTER_MACROS_ENVFROM", ""},
	{"Milter.macros.envrcpt", "confMILTER_MACROS_ENVRCPT", ""},
	{"Milter.macros.eom", "confMILTER_MACROS_EOM", ""},
	{"Milter.macros.eoh", "confMILTER_MACROS_EOH", ""},
	{"Milter.macros.data", "confMILTER_MACROS_DATA", ""},
}

// optionLine is _OPTION: "O Name=value" when the macro is defined ("O Name"
// when it is empty), else a "#O Name=default" comment.
func (l *layer) optionLine(o opt) string {
	if l.defined(o.macro) {
		if l.raw(o.macro) == "" {
			return "O " + o.name
		}
		return "O " + o.name + "=" + o.macro
	}
	if o.dflt == "" {
		return "#O " + o.name
	}
	return "#O " + o.name + "=" + o.dflt
}

// finish is the trailer builtin: it checks what proto.m4 checks and
// returns the cf body for the engine to expand.
func (l *layer) finish(_ *Engine, _ []string) (string, error) {
	if !l.installed {
		return "", nil
	}
	if !l.defined("_MAILER_local_") {
		_, _ = l.mailer(l.e, []string{"MAILER", "local"})
	}
	l.sanityChecks()
	return l.body(), nil
}

func (l *layer) sanityChecks() {
	if !l.defined("__OSTYPE__") {
		l.warn("*** ERROR: No system type defined (use OSTYPE macro)\n")
	}
	if l.defined("confDEF_GROUP_ID") {
		l.warn("*** confDEF_GROUP_ID is obsolete.\n    Use confDEF_USER_ID with a colon in the value instead.\n")
	}
	if l.defined("confREAD_TIMEOUT") {
		l.warn("*** confREAD_TIMEOUT is obsolete.\n    Use individual confTO_<timeout> parameters instead.\n")
	}
	if l.defined("confMESSAGE_TIMEOUT") {
		v := l.flat("confMESSAGE_TIMEOUT")
		if i := strings.IndexByte(v, '/'); i < 0 {
			l.e.Define("confTO_QUEUERETURN", v)
		} else {
			l.e.Define("confTO_QUEUERETURN", v[:i])
			l.e.Define("confTO_QUEUEWARN", v[i+1:])
		}
	}
	if l.defined("confMIN_FREE_BLOCKS") && strings.Contains(l.flat("confMIN_FREE_BLOCKS"), "/") {
		l.warn("*** compound confMIN_FREE_BLOCKS is obsolete.\n    Use confMAX_MESSAGE_SIZE for the second part of the value.\n")
	}
	if !l.defined("confLDAP_DEFAULT_SPEC") && l.defined("_LDAP_ROUTING_WARN_") {
		l.warn("\nWARNING: Using default FEATURE(ldap_routing) map definition(s)\nwithout setting confLDAP_DEFAULT_SPEC option.\n")
	}
	if l.defined("confAUTO_REBUILD") {
		l.warn("WARNING: confAUTO_REBUILD is no longer valid.\n\tThere was a potential for a denial of service attack if this is set.\n")
	}
	if l.raw("confDAEMON_OPTIONS") != "" {
		l.warn("WARNING: confDAEMON_OPTIONS is no longer valid.\n\tUse DAEMON_OPTIONS(); see cf/README.\n")
		l.e.Define("_DPO_", l.raw("_DPO_")+"\nO DaemonPortOptions=confDAEMON_OPTIONS")
	}
	if l.raw("confCLIENT_OPTIONS") != "" {
		l.warn("WARNING: confCLIENT_OPTIONS is no longer valid.  See cf/README for more information.\n")
		l.e.Define("_CPO_", l.raw("_CPO_")+"\nO ClientPortOptions=confCLIENT_OPTIONS")
	}
	if l.defined("confUNSAFE_GROUP_WRITES") {
		l.warn("WARNING: confUNSAFE_GROUP_WRITES is deprecated; use confDONT_BLAME_SENDMAIL.\n")
	}
}

// policyMarkers writes, as comments, the facts sendmaild reads from the
// stock rulesets m4 would have generated and mc2cf leaves out: whether
// access_db skips (its <SKIP> rules) and the final "Relaying denied"
// reply (confRELAY_MSG, which TRUST_AUTH_MECH extends). They are quoted:
// the body is m4 input.
func (l *layer) policyMarkers(w func(...string)) {
	relay := `"550 Relaying denied"`
	if l.defined("confRELAY_MSG") {
		relay = l.flat(l.raw("confRELAY_MSG"))
	} else if l.defined("_USE_AUTH_") {
		relay = `"550 Relaying denied. Proper authentication required."`
	}
	w("`#####  mc2cf policy: relay_msg " + relay + "  #####'")
	if l.defined("_ACCESS_SKIP_") {
		w("`#####  mc2cf policy: access_skip  #####'")
	}
}

// body is the cf text after the header, as m4 input.
func (l *layer) body() string {
	var b strings.Builder
	w := func(lines ...string) {
		for _, s := range lines {
			b.WriteString(s)
			b.WriteByte('\n')
		}
	}
	has := l.defined
	// Default quotes for the body: an mc may end with other quotes in force.
	b.WriteString("changequote\ndivert(0)\n")

	vendor := "/Berkeley"
	if has("NO_VENDOR") {
		vendor = ""
	} else if has("VENDOR_NAME") {
		vendor = "/VENDOR_NAME"
	}
	l.policyMarkers(w)
	w("V"+l.raw("CF_LEVEL")+vendor, "")
	w(l.optionLine(opt{"DontBlameSendmail", "confDONT_BLAME_SENDMAIL", "safe"}))
	w(l.optionLine(opt{"LDAPDefaultSpec", "confLDAP_DEFAULT_SPEC", "-h localhost"}), "")
	if has("confLDAP_CLUSTER") {
		w("D{sendmailMTACluster}confLDAP_CLUSTER")
	} else {
		w("#D{sendmailMTACluster}$m")
	}
	w("Cwlocalhost")
	if has("USE_CW_FILE") {
		w("Fw`'confCW_FILE")
	}
	if has("confDOMAIN_NAME") {
		w("Dj`'confDOMAIN_NAME")
	} else {
		w("#Dj$w.Foo.COM")
	}
	w("CP.")
	for _, r := range []struct{ macro, letter, class string }{
		{"UUCP_RELAY", "Y", "UUCP"}, {"BITNET_RELAY", "B", "BITNET"}, {"DECNET_RELAY", "C", "DECNET"}, {"FAX_RELAY", "F", "FAX"},
	} {
		if has(r.macro) {
			if r.macro == "DECNET_RELAY" {
				l.e.Define("_USE_DECNET_SYNTAX_", "1")
			}
			w("D"+r.letter+"`'"+r.macro, "CP"+r.class)
		}
	}
	if has("SMART_HOST") {
		w("DS`'SMART_HOST")
	} else {
		w("DS")
	}
	if has("LUSER_RELAY") {
		w("Kuser user -m -a<>", "DL`'LUSER_RELAY")
	}
	co := "CO @ "
	if !has("_NO_PERCENTHACK_") {
		co += "%"
	}
	co += " "
	if !has("_NO_UUCP_") {
		co += "!"
	}
	w(co, "C..", "C[[")
	if has("_ACCESS_TABLE_") {
		w("C{Accept}OK RELAY")
		if has("_DELAY_COMPAT_8_10_") && has("_BLOCKLIST_RCPT_") {
			w("C{SpamTag}SPAMFRIEND SPAMHATER")
		}
	}
	if !has("_ACCEPT_UNRESOLVABLE_DOMAINS_") {
		w("Kresolve host -a<OKR> -T<TEMP>")
	}
	w("C{ResOk}OKR")
	macroMap := func() {
		if !has("_MACRO_MAP_") {
			l.e.Define("_MACRO_MAP_", "1")
			w("Kmacro macro")
		}
	}
	if has("_NEED_MACRO_MAP_") {
		macroMap()
	}
	if has("confCR_FILE") {
		w("FR`'confCR_FILE")
	}
	fullTLS := has("_ACCESS_TABLE_") || has("_MTA_STS_")
	if !has("_ARITH_MAP_") {
		l.e.Define("_ARITH_MAP_", "1")
		w("Karith arith")
	}
	if fullTLS {
		macroMap()
		w("C{Tls}VERIFY ENCR", "C{TlsVerified}OK TRUSTED")
	}
	if has("_CERT_REGEX_ISSUER_") {
		w("KCERTIssuer regex _CERT_REGEX_ISSUER_")
	}
	if has("_CERT_REGEX_SUBJECT_") {
		w("KCERTSubject regex _CERT_REGEX_SUBJECT_")
	}
	if has("_MTA_STS_") {
		w("Kstsxsni regex -a: -s3 (.*)(servername=)(.*)",
			"Kstsxsni2 regex -a: -s2 (.*)(servername=.*)",
			"Kstsxmatch regex -a: -s2 (match=)(.*)",
			"Kstsxnodaneflag regex -a@ -s3 (.*)(flags=)([^;]*d)(.*)")
	}
	if has("LOCAL_RELAY") {
		w("DR`'LOCAL_RELAY")
	}
	if has("MAIL_HUB") {
		w("DH`'MAIL_HUB")
	}
	if has("confDEQUOTE_OPTS") {
		w("Kdequote dequote confDEQUOTE_OPTS")
	} else {
		w("Kdequote dequote")
	}
	w("")
	w(l.classes...)
	if has("_VIRTHOSTS_") {
		w("CR$={VirtHost}")
	}
	if has("MASQUERADE_NAME") {
		w("DM`'MASQUERADE_NAME")
	}
	if has("confMAILER_NAME") {
		w("Dn`'confMAILER_NAME")
	} else {
		w("#DnMAILER-DAEMON")
	}
	w("")
	w(l.localConfig...)
	b.WriteString("undivert(6)")
	if has("confCF_VERSION") {
		w("DZ8.17.1.9/confCF_VERSION")
	} else {
		w("DZ8.17.1.9")
	}
	w("")

	for _, o := range options {
		switch o.name {
		case optHelpFile:
			if has("HELP_FILE") {
				w("O HelpFile=HELP_FILE")
			} else {
				w("O HelpFile=MAIL_SETTINGS_DIR`'helpfile")
			}
		case optQueueDir:
			if has("QUEUE_DIR") {
				w("O QueueDirectory=QUEUE_DIR")
			} else {
				w("O QueueDirectory=/var/spool/mqueue")
			}
		case optTimeZone:
			switch tz := l.flat("confTIME_ZONE"); {
			case has("confTIME_ZONE") && tz == "USE_SYSTEM":
				w("#O TimeZoneSpec=")
			case has("confTIME_ZONE") && tz == "USE_TZ":
				w("O TimeZoneSpec=")
			default:
				w("O TimeZoneSpec=confTIME_ZONE")
			}
		case optDaemons:
			if l.raw("_DPO_") == "" {
				if has("_NETINET6_") {
					w("O DaemonPortOptions=Name=MTA-v4, Family=inet", "O DaemonPortOptions=Name=MTA-v6, Family=inet6")
				} else {
					w("O DaemonPortOptions=Name=MTA")
				}
			} else {
				w("_DPO_")
			}
			if !has("_NO_MSA_") {
				w("O DaemonPortOptions=Port=587, Name=MSA, M=E")
			}
		case optClients:
			if l.raw("_CPO_") == "" {
				w("#O ClientPortOptions=Family=inet, Address=0.0.0.0")
			} else {
				w("_CPO_")
			}
		case optMilterOpt:
			if l.raw("_MAIL_FILTERS_DEF") != "" {
				for _, m := range milterOptions {
					w(l.optionLine(m))
				}
			}
		default:
			w(l.optionLine(o))
		}
	}
	if has("_NEED_SMTPOPMODES_") {
		w("C{SMTPOpModes} s d D")
	}
	w("")
	w(l.queueGroups...)
	w("", "Pfirst-class=0", "Pspecial-delivery=100", "Plist=-30", "Pbulk=-60", "Pjunk=-100", "")
	ct := "MAIL_SETTINGS_DIR`'trusted-users"
	if has("confCT_FILE") {
		ct = "confCT_FILE"
	}
	if has("_USE_CT_FILE_") {
		w("Ft`'" + ct)
	} else {
		w("#Ft`'" + ct)
	}
	w("Troot", "Tdaemon")
	if !has("_NO_UUCP_") {
		w("Tuucp")
	}
	if has("confTRUSTED_USERS") {
		w("T`'confTRUSTED_USERS")
	}
	w("")
	from, msgid := "$?x$x <$g>$|$g$.", "<$t.$i@$j>"
	if has("confFROM_HEADER") {
		from = "confFROM_HEADER"
	}
	if has("confMESSAGEID_HEADER") {
		msgid = "confMESSAGEID_HEADER"
	}
	w("H?P?Return-Path: <$g>",
		"HReceived: confRECEIVED_HEADER",
		"H?D?Resent-Date: $a",
		"H?D?Date: $a",
		"H?F?Resent-From: "+from,
		"H?F?From: "+from,
		"H?x?Full-Name: $x",
		"H?M?Resent-Message-Id: "+msgid,
		"H?M?Message-Id: "+msgid,
		"")
	if has("_ACCESS_TABLE_") {
		src := "C{Src}E F D U "
		if has("_FFR_SRCHLIST_A") {
			src += "A"
		}
		w("# class with valid marks for SearchList", src, "")
	}
	// The rule diversions (LOCAL_RULE_n, LOCAL_RULESETS, LOCAL_NET_CONFIG,
	// UUCP and DNSBL rules) may hold other lines too, maps and headers
	// that local rulesets use; those are kept, the rules are not. They are
	// output as they are, without being expanded again.
	var rest strings.Builder
	for _, n := range []int{1, 2, 3, 4, 8, 9} {
		rest.WriteString(withoutRules(l.e.Diversion(n)))
	}
	if rest.Len() > 0 && !strings.ContainsAny(rest.String(), "\x01\x02") {
		b.WriteString("changequote(\x01,\x02)\x01" + rest.String() + "\x02changequote\n")
	}
	w(l.filters...)
	w("")
	w(l.mailers...)
	b.WriteString("undivert(7)")
	// What is left in the other diversions is rules; discard them.
	b.WriteString("divert(-1)")
	for _, n := range []int{1, 2, 3, 4, 5, 8, 9} {
		fmt.Fprintf(&b, "undivert(%d)", n)
	}
	return b.String()
}

// withoutRules drops the S and R lines (with their continuation lines)
// from cf text.
func withoutRules(text string) string {
	var b strings.Builder
	drop := false
	for _, line := range strings.SplitAfter(text, "\n") {
		if line == "" {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			drop = line[0] == 'S' || line[0] == 'R'
		}
		if !drop {
			b.WriteString(line)
		}
	}
	return b.String()
}
