// SPDX-License-Identifier: MIT

package cf

// optionTab lists the long option names of Sendmail 8.17 as built for
// Debian 12 (readcf.c's OptionTab with the compiled-in features), in
// table order: an abbreviation matching two names is reported with the
// first two it meets, as sendmail does. code is the one-letter name of the
// old "Ox value" form, if any.
var optionTab = []struct {
	name   string
	code   byte
	subopt bool
}{
	{"SevenBitInput", '7', false}, {"EightBitMode", '8', false}, {"AliasFile", 'A', false},
	{"AliasWait", 'a', false}, {"BlankSub", 'B', false}, {"MinFreeBlocks", 'b', false},
	{"CheckpointInterval", 'C', false}, {"HoldExpensive", 'c', false}, {"DeliveryMode", 'd', false},
	{"ErrorHeader", 'E', false}, {"ErrorMode", 'e', false}, {"TempFileMode", 'F', false},
	{"SaveFromLine", 'f', false}, {"MatchGECOS", 'G', false}, {"HelpFile", 'H', false},
	{"MaxHopCount", 'h', false}, {"ResolverOptions", 'I', false}, {"IgnoreDots", 'i', false},
	{"ForwardPath", 'J', false}, {"SendMimeErrors", 'j', false}, {"ConnectionCacheSize", 'k', false},
	{"ConnectionCacheTimeout", 'K', false}, {"UseErrorsTo", 'l', false}, {"LogLevel", 'L', false},
	{"MeToo", 'm', false}, {"CheckAliases", 'n', false}, {"OldStyleHeaders", 'o', false},
	{"DaemonPortOptions", 'O', false}, {"PrivacyOptions", 'p', false}, {"PostmasterCopy", 'P', false},
	{"QueueFactor", 'q', false}, {"QueueDirectory", 'Q', false}, {"DontPruneRoutes", 'R', false},
	{"Timeout", 'r', true}, {"StatusFile", 'S', false}, {"SuperSafe", 's', false},
	{"QueueTimeout", 'T', false}, {"TimeZoneSpec", 't', false}, {"UserDatabaseSpec", 'U', false},
	{"DefaultUser", 'u', false}, {"FallbackMXhost", 'V', false}, {"Verbose", 'v', false},
	{"TryNullMXList", 'w', false}, {"QueueLA", 'x', false}, {"RefuseLA", 'X', false},
	{"RecipientFactor", 'y', false}, {"ForkEachJob", 'Y', false}, {"ClassFactor", 'z', false},
	{"RetryFactor", 'Z', false}, {"QueueSortOrder", 0, false}, {"HostsFile", 0, false},
	{"MinQueueAge", 0, false}, {"DefaultCharSet", 0, false}, {"ServiceSwitchFile", 0, false},
	{"DialDelay", 0, false}, {"NoRecipientAction", 0, false}, {"SafeFileEnvironment", 0, false},
	{"MaxMessageSize", 0, false}, {"ColonOkInAddr", 0, false}, {"MaxQueueRunSize", 0, false},
	{"MaxDaemonChildren", 0, false}, {"DontExpandCnames", 0, false}, {"MustQuoteChars", 0, false},
	{"SmtpGreetingMessage", 0, false}, {"UnixFromLine", 0, false}, {"OperatorChars", 0, false},
	{"DontInitGroups", 0, false}, {"SingleLineFromHeader", 0, false}, {"AllowBogusHELO", 0, false},
	{"ConnectionRateThrottle", 0, false}, {"UnsafeGroupWrites", 0, false}, {"DoubleBounceAddress", 0, false},
	{"HostStatusDirectory", 0, false}, {"SingleThreadDelivery", 0, false}, {"RunAsUser", 0, false},
	{"RrtImpliesDsn", 0, false}, {"PidFile", 0, false}, {"DontBlameSendmail", 0, false},
	{"DontProbeInterfaces", 0, false}, {"MaxRecipientsPerMessage", 0, false}, {"DeadLetterDrop", 0, false},
	{"MaxAliasRecursion", 0, false}, {"ConnectOnlyTo", 0, false}, {"TrustedUser", 0, false},
	{"MaxMimeHeaderLength", 0, false}, {"ControlSocketName", 0, false}, {"MaxHeadersLength", 0, false},
	{"ProcessTitlePrefix", 0, false}, {"DefaultAuthInfo", 0, false}, {"AuthMechanisms", 0, false},
	{"ClientPortOptions", 0, false}, {"DataFileBufferSize", 0, false}, {"XscriptFileBufferSize", 0, false},
	{"LDAPDefaultSpec", 0, false}, {"ServerCertFile", 0, false}, {"ServerKeyFile", 0, false},
	{"ClientCertFile", 0, false}, {"ClientKeyFile", 0, false}, {"CACertFile", 0, false},
	{"CACertPath", 0, false}, {"DHParameters", 0, false}, {"InputMailFilters", 0, false},
	{"Milter", 0, true}, {"AuthOptions", 0, false}, {"QueueFileMode", 0, false},
	{"CertFingerprintAlgorithm", 0, false}, {"CipherList", 0, false}, {"RandFile", 0, false},
	{"TLSSrvOptions", 0, false}, {"BadRcptThrottle", 0, false}, {"DeliverByMin", 0, false},
	{"MaxQueueChildren", 0, false}, {"MaxRunnersPerQueue", 0, false}, {"DirectSubmissionModifiers", 0, false},
	{"NiceQueueRun", 0, false}, {"SharedMemoryKey", 0, false}, {"AuthMaxBits", 0, false},
	{"MailboxDatabase", 0, false}, {"UseMSP", 0, false}, {"DelayLA", 0, false},
	{"FastSplit", 0, false}, {"SoftBounce", 0, false}, {"SharedMemoryKeyFile", 0, false},
	{"RejectLogInterval", 0, false}, {"RequiresDirfsync", 0, false}, {"ConnectionRateWindowSize", 0, false},
	{"CRLFile", 0, false}, {"FallbackSmartHost", 0, false}, {"AuthRealm", 0, false},
	{"CRLPath", 0, false}, {"HeloName", 0, false}, {"MaxNOOPCommands", 0, false},
	{"BadRcptShutdown", 0, false}, {"BadRcptShutdownGood", 0, false}, {"ServerSSLOptions", 0, false},
	{"ClientSSLOptions", 0, false}, {"MaxQueueAge", 0, false}, {"RejectNUL", 0, false},
	{"UseCompressedIPv6Addresses", 0, false}, {"SSLEngine", 0, false}, {"SSLEnginePath", 0, false},
	{"TLSFallbacktoClear", 0, false}, {"SetCertAltnames", 0, false}, {"SmtpUTF8", 0, false},
	{"StrictTransportSecurity", 0, false}, {"CipherSuites", 0, false},
}

// lookupOption resolves a long option name as setoption does: an exact
// name (any case) wins; otherwise a unique prefix. It returns the index
// in optionTab, or an error message.
func lookupOption(name string) (int, string) {
	sel := -1
	for i, o := range optionTab {
		if len(name) > len(o.name) || !equalFoldASCII(o.name[:len(name)], name) {
			continue
		}
		if len(o.name) == len(name) {
			return i, ""
		}
		if sel >= 0 {
			return -1, "readcf: ambiguous option name " + name + " (matches " + optionTab[sel].name + " and " + o.name + ")"
		}
		sel = i
	}
	if sel < 0 {
		return -1, "readcf: unknown option name " + name
	}
	return sel, ""
}

// optionByCode finds the option of the one-letter form.
func optionByCode(c byte) int {
	for i, o := range optionTab {
		if o.code == c {
			return i
		}
	}
	return -1
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
