// SPDX-License-Identifier: MIT

package mc

import (
	"fmt"
	"strings"
)

// FEATURE(name, args...): every feature in sendmail-cf 8.17's feature/
// folder. Most only raise a flag that the (omitted) rulesets test; the ones
// below that matter to the non-ruleset part of the cf add map declarations,
// classes or options to LOCAL_CONFIG, or change mailer settings.

type featureFunc func(l *layer, a []string)

// flag returns a feature that only defines its marker macro.
func flag(name string) featureFunc {
	return func(l *layer, _ []string) { l.e.Define(name, "1") }
}

// mustPrecedeLocal is the complaint of features that change MAILER(local).
func mustPrecedeLocal(feature string, styleQuoted bool) func(l *layer) {
	return func(l *layer) {
		if !l.defined("_MAILER_local_") {
			return
		}
		if styleQuoted {
			l.warn("*** MAILER(`local') must appear after FEATURE(`%s')", feature)
		} else {
			l.warn("*** FEATURE(%s) must occur before MAILER(local)\n", feature)
		}
	}
}

// ldapSpec is the LDAP map sendmail-cf declares when a table feature's
// argument is `LDAP'.
func ldapSpec(mapName string, tmpf bool) string {
	t := ""
	if tmpf {
		t = "-T<TMPF> "
	}
	return "ldap " + t + "-1 -v sendmailMTAMapValue,sendmailMTAMapSearch:FILTER:sendmailMTAMapObject,sendmailMTAMapURL:URL:sendmailMTAMapObject -k (&(objectClass=sendmailMTAMapObject)(|(sendmailMTACluster=${sendmailMTACluster})(sendmailMTAHost=$j))(sendmailMTAMapName=" + mapName + ")(sendmailMTAKey=%0))"
}

// table returns a feature that declares one database map: the default is
// DATABASE_MAP_TYPE on MAIL_SETTINGS_DIR/file, `LDAP' selects the LDAP map,
// anything else is the map specification itself.
func table(marker, kname, ldapName, file string) featureFunc {
	return func(l *layer, a []string) {
		l.e.Define(marker, "")
		spec := arg(a, 0)
		switch spec {
		case "":
			spec = "DATABASE_MAP_TYPE MAIL_SETTINGS_DIR`'" + file
		case "LDAP":
			spec = ldapSpec(ldapName, false)
		}
		l.localConfig = append(l.localConfig, "K"+kname+" "+spec)
	}
}

var features map[string]featureFunc

func init() {
	features = map[string]featureFunc{
		"accept_unqualified_senders":  flag("_ACCEPT_UNQUALIFIED_SENDERS_"),
		"accept_unresolvable_domains": flag("_ACCEPT_UNRESOLVABLE_DOMAINS_"),
		"access_db":                   featureAccessDB,
		"allmasquerade": func(l *layer, _ []string) {
			mustPrecedeLocal("allmasquerade", true)(l)
			if l.defined("_MAILER_uucp_") {
				l.warn("*** MAILER(`uucp') must appear after FEATURE(`allmasquerade')")
			}
			l.e.Define("_ALL_MASQUERADE_", "1")
		},
		"always_add_domain": func(l *layer, a []string) {
			mustPrecedeLocal("always_add_domain", true)(l)
			l.e.Define("_ALWAYS_ADD_DOMAIN_", arg(a, 0))
		},
		"authinfo": table("_AUTHINFO_TABLE_", "authinfo", "authinfo", "authinfo"),
		"badmx": func(l *layer, a []string) {
			l.e.Define("_BADMX_CHK_", "1")
			re := arg(a, 0)
			if re == "" {
				re = `^(127\.|10\.|0\.0\.0\.0)`
			}
			l.localConfig = append(l.localConfig,
				"Kmxlist bestmx -z: -T<TEMP>",
				`Kbadmx regex -a<BADMX> ^(([0-9]{1,3}\.){3}[0-9]){0,1}\.$`,
				"KdnsA dns -R A -a. -T<TEMP>",
				"KBadMXIP regex -a<BADMXIP> "+re)
		},
		"bcc": func(l *layer, a []string) {
			access := strings.ToLower(arg(a, 0)) == "access"
			if access {
				l.e.Define("_BCC_ACCESS_", "1")
				if !l.defined("_ACCESS_TABLE_") {
					l.warn("*** ERROR: FEATURE(`bcc') requires FEATURE(`access_db')\n")
				}
			}
			l.e.Define("_ADD_BCC_", "1")
			if !access {
				spec := arg(a, 0)
				if spec == "" {
					spec = "DATABASE_MAP_TYPE MAIL_SETTINGS_DIR`'bcctable"
				}
				l.localConfig = append(l.localConfig, "Kbcctable "+spec)
			}
			l.localConfig = append(l.localConfig, "O AddBcc=true")
			if arg(a, 1) != "" {
				l.localConfig = append(l.localConfig, "DA`'"+arg(a, 1))
			}
			if arg(a, 3) != "" {
				l.e.Define("_CANONIFY_BCC_", "1")
				l.e.Define("_NEED_SMTPOPMODES_", "1")
				l.localConfig = append(l.localConfig, "KcanonicalRcpt "+arg(a, 3))
			}
		},
		"bestmx_is_local": func(l *layer, a []string) {
			l.e.Define("_BESTMX_IS_LOCAL_", arg(a, 0))
			l.localConfig = append(l.localConfig, "Kbestmx bestmx")
			if arg(a, 0) != "" {
				l.localConfig = append(l.localConfig, "CB`'"+arg(a, 0))
			}
		},
		"bitdomain": table("_BITDOMAIN_TABLE_", "bitdomain", "bitdomain", "bitdomain"),
		"blacklist_recipients": func(l *layer, a []string) {
			l.warn("WARNING: FEATURE(blacklist_recipients) is deprecated; use FEATURE(blocklist_recipients.m4).\n")
			_ = l.runFeature("blocklist_recipients", nil)
		},
		"block_bad_helo": func(l *layer, _ []string) {
			l.e.Define("_BLOCK_BAD_HELO_", "")
			l.classes = append(l.classes, "C{R}127.0.0.1", "C{R}IPv6:0:0:0:0:0:0:0:1 IPv6:::1",
				"C{w}[127.0.0.1]", "C{w}[IPv6:0:0:0:0:0:0:0:1] [IPv6:::1]")
		},
		"blocklist_recipients": func(l *layer, _ []string) {
			if l.defined("_ACCESS_TABLE_") {
				l.e.Define("_BLOCKLIST_RCPT_", "1")
			} else {
				l.warn("*** ERROR: FEATURE(blocklist_recipients) requires FEATURE(access_db)\n")
			}
		},
		"check_cert_altnames": func(l *layer, _ []string) {
			l.e.Define("_FFR_TLS_ALTNAMES", "1")
			l.localConfig = append(l.localConfig, "O SetCertAltnames=true")
		},
		"check_other": func(l *layer, a []string) {
			re := arg(a, 0)
			if re == "" {
				re = "^[[:print:]]+ *:"
			}
			l.e.Define("CHKORX", re)
			l.localConfig = append(l.localConfig, "Kbadcmd regex -m -a<BADCMD> "+quote(re))
		},
		"compat_check": func(l *layer, _ []string) {
			if !l.defined("_ACCESS_TABLE_") {
				l.warn("FEATURE(`compat_check') requires FEATURE(`access_db')\n")
			}
		},
		"conncontrol":  controlFeature("conncontrol", "_CONN_CONTROL_", "_CONN_CONTROL_IMMEDIATE_", "_CONN_CONTROL_REPLY"),
		"delay_checks": featureDelayChecks,
		"dnsbl": func(l *layer, a []string) {
			l.defIfNot("DNSBL_MAP", "dns -R A")
			if !l.defined("_DNSBL_R_") {
				l.e.Define("_DNSBL_R_", "")
				if arg(a, 0) == "" {
					l.warn("*** ERROR: missing argument for FEATURE(`dnsbl')")
				}
				line := "Kdnsbl DNSBL_MAP -T<TMP>"
				if l.defined("DNSBL_MAP_OPT") {
					line += " DNSBL_MAP_OPT"
				}
				l.localConfig = append(l.localConfig, line)
			}
		},
		"domainmap": func(l *layer, a []string) {
			if !l.defined("_DOMAIN_MAP_") {
				if !l.defined("DOMAINMAP_NO_REGEX") {
					l.localConfig = append(l.localConfig, `K domainmap_regex regex -a.:NOTDONE: -s1,2 -d_ (.*)[-\.]([^-\.]*)$`)
				}
				l.e.Define("_DOMAIN_MAP_", "1")
			}
			d := arg(a, 0)
			l.localConfig = append(l.localConfig, "C{MappedDomain} "+d,
				"K domain_"+strings.NewReplacer(".", "_", "-", "_").Replace(l.flat(d))+" "+arg(a, 1)+" -T<TEMP>")
		},
		"domaintable": table("_DOMAIN_TABLE_", "domaintable", "domain", "domaintable"),
		"drac": func(l *layer, a []string) {
			l.e.Define("_DRAC_", "")
			spec := arg(a, 0)
			if spec == "" {
				spec = "DATABASE_MAP_TYPE MAIL_SETTINGS_DIR`'drac"
			}
			l.localConfig = append(l.localConfig, "Kdrac "+spec)
		},
		"enhdnsbl": func(l *layer, a []string) {
			if arg(a, 0) == "" {
				l.warn("*** ERROR: missing argument for FEATURE(`enhdnsbl')")
			}
			if !l.defined("_EDNSBL_R_") {
				l.e.Define("_EDNSBL_R_", "")
				to := "5"
				if l.defined("EDNSBL_TO") {
					to = "EDNSBL_TO"
				}
				l.localConfig = append(l.localConfig, "Kednsbl dns -R A -a. -T<TMP> -r"+to)
			}
		},
		"generics_entire_domain": flag("_GENERICS_ENTIRE_DOMAIN_"),
		"genericstable":          table("_GENERICS_TABLE_", "generics", "generics", "genericstable"),
		"greet_pause": func(l *layer, a []string) {
			if arg(a, 0) == "" && !l.defined("_ACCESS_TABLE_") {
				l.warn("*** ERROR: FEATURE(`greet_pause') requires FEATURE(`access_db')\n")
			}
			l.e.Define("_GREET_PAUSE_", "")
		},
		"ldap_routing":       featureLDAPRouting,
		"limited_masquerade": flag("_LIMITED_MASQUERADE_"),
		"local_lmtp":         featureLocalLMTP,
		"local_no_masquerade": func(l *layer, _ []string) {
			mustPrecedeLocal("local_no_masquerade", true)(l)
			l.e.Define("_LOCAL_NO_MASQUERADE_", "1")
		},
		"local_procmail": featureLocalProcmail,
		"lookupdotdomain": func(l *layer, _ []string) {
			if l.defined("_ACCESS_TABLE_") {
				l.e.Define("_LOOKUPDOTDOMAIN_", "")
			} else {
				l.warn("*** ERROR: FEATURE(`lookupdotdomain') requires FEATURE(`access_db')\n")
			}
			if l.defined("_RELAY_HOSTS_ONLY_") {
				l.warn("*** WARNING: FEATURE(`lookupdotdomain') does not work well with FEATURE(`relay_hosts_only')\n")
			}
		},
		"loose_relay_check":        flag("_LOOSE_RELAY_CHECK_"),
		"mailertable":              table("_MAILER_TABLE_", "mailertable", "mailer", "mailertable"),
		"masquerade_entire_domain": flag("_MASQUERADE_ENTIRE_DOMAIN_"),
		"masquerade_envelope":      flag("_MASQUERADE_ENVELOPE_"),
		"msp":                      featureMSP,
		"mtamark": func(l *layer, _ []string) {
			if !l.defined("_MTAMARK_R") {
				l.e.Define("_MTAMARK_R", "")
				to := "5"
				if l.defined("MTAMARK_TO") {
					to = "MTAMARK_TO"
				}
				l.localConfig = append(l.localConfig, "Kmtamark dns -R TXT -a. -T<TMP> -r"+to)
			}
		},
		"no_default_msa": flag("_NO_MSA_"),
		"nocanonify": func(l *layer, a []string) {
			l.e.Define("_NO_CANONIFY_", "1")
			switch {
			case arg(a, 0) == "":
			case strings.EqualFold(arg(a, 0), "canonify_hosts"):
				l.e.Define("_CANONIFY_HOSTS_", "1")
			default:
				l.warn("*** ERROR: unknown parameter %s for FEATURE(`nocanonify')\n", arg(a, 0))
			}
		},
		"nopercenthack": rejectOrNospecial("nopercenthack", "_NO_PERCENTHACK_"),
		"notsticky":     func(*layer, []string) {},
		"nouucp":        rejectOrNospecial("nouucp", "_NO_UUCP_"),
		"nullclient":    featureNullClient,
		"prefixmod": func(l *layer, a []string) {
			if arg(a, 0) == "" {
				l.warn(`Feature "prefixmod" requires argument`)
			} else {
				l.e.Define("_PREFIX_MOD_", arg(a, 0))
			}
			if arg(a, 1) == "" {
				l.warn(`Feature "prefixmod" requires two arguments`)
			} else {
				l.e.Define("_PREFIX_FLAGS_", arg(a, 1))
			}
			l.e.Define("_NEED_MACRO_MAP_", "1")
		},
		"preserve_local_plus_detail": flag("_PRESERVE_LOCAL_PLUS_DETAIL_"),
		"preserve_luser_host": func(l *layer, _ []string) {
			if !l.defined("LUSER_RELAY") {
				l.warn("*** LUSER_RELAY should be defined before FEATURE(`preserve_luser_host')\n    ")
			}
			l.e.Define("_PRESERVE_LUSER_HOST_", "1")
			l.e.Define("_NEED_MACRO_MAP_", "1")
		},
		"promiscuous_relay": func(l *layer, _ []string) {
			l.e.Define("_PROMISCUOUS_RELAY_", "1")
			l.warn("*** WARNING: FEATURE(`promiscuous_relay') configures your system as open\n\trelay.  Do NOT use it on a server that is connected to the Internet!\n")
		},
		"queuegroup": func(l *layer, _ []string) {
			if !l.defined("_ACCESS_TABLE_") {
				l.warn("*** ERROR: FEATURE(`queuegroup') requires FEATURE(`access_db')\n")
			}
		},
		"ratecontrol": controlFeature("ratecontrol", "_RATE_CONTROL_", "_RATE_CONTROL_IMMEDIATE_", "_RATE_CONTROL_REPLY"),
		"redirect": func(l *layer, _ []string) {
			l.localConfig = append(l.localConfig, "CPREDIRECT")
		},
		"relay_based_on_MX": func(l *layer, _ []string) {
			l.e.Define("_RELAY_MX_SERVED_", "1")
			l.localConfig = append(l.localConfig, "Kmxserved bestmx -z: -T<TEMP>")
		},
		"relay_entire_domain": flag("_RELAY_ENTIRE_DOMAIN_"),
		"relay_hosts_only":    flag("_RELAY_HOSTS_ONLY_"),
		"relay_local_from": func(l *layer, _ []string) {
			l.e.Define("_RELAY_LOCAL_FROM_", "1")
			l.warn("*** WARNING: FEATURE(`relay_local_from') may cause your system to act as open\n\trelay.  Use SMTP AUTH or STARTTLS instead. If you cannot use those,\n\ttry FEATURE(`relay_mail_from').\n")
		},
		"relay_mail_from": func(l *layer, a []string) {
			if l.defined("_ACCESS_TABLE_") {
				l.e.Define("_RELAY_DB_FROM_", "1")
				if arg(a, 0) == "domain" {
					l.e.Define("_RELAY_DB_FROM_DOMAIN_", "1")
				}
			} else {
				l.warn("*** ERROR: FEATURE(`relay_mail_from') requires FEATURE(`access_db')\n")
			}
			l.warn("*** WARNING: FEATURE(`relay_mail_from') may cause your system to act as open\n\trelay.  Use SMTP AUTH or STARTTLS instead.\n")
		},
		"require_rdns": func(l *layer, _ []string) { l.e.Define("_REQUIRE_RDNS_", "") },
		"rhsbl": func(l *layer, _ []string) {
			if !l.defined("_RHSBL_R_") {
				l.e.Define("_RHSBL_R_", "")
				if !l.defined("_DNSBL_R_") {
					l.localConfig = append(l.localConfig, "Kdnsbl host -T<TMP>")
				}
			}
		},
		"smrsh": func(l *layer, a []string) {
			mustPrecedeLocal("smrsh", false)(l)
			p := arg(a, 0)
			if p == "" {
				p = l.ebinDir() + "/smrsh"
			}
			l.e.Define("LOCAL_SHELL_PATH", p)
			l.defIfNot("LOCAL_SHELL_ARGS", "smrsh -c $u")
		},
		"stickyhost": flag("_STICKY_LOCAL_DOMAIN_"),
		"sts": func(l *layer, a []string) {
			l.e.Define("_MTA_STS_", "")
			l.e.Define("_NEED_MACRO_MAP_", "1")
			l.localConfig = append(l.localConfig, "O StrictTransportSecurity=true")
			if arg(a, 1) != "NO_SAN_TST" {
				l.e.Define("_STS_SAN", "1")
				l.localConfig = append(l.localConfig, "O SetCertAltnames=true")
			}
			spec := arg(a, 0)
			if spec == "" {
				spec = "socket -d5 -T<TMPF> inet:5461@127.0.0.1"
			}
			l.localConfig = append(l.localConfig, "Ksts "+spec)
		},
		"tls_failures": func(l *layer, _ []string) {
			l.warn("*** ERROR: FEATURE(tls_failures) has been replaced by confTLS_FALLBACK_TO_CLEAR\n")
			l.e.Define("confTLS_FALLBACK_TO_CLEAR", "true")
		},
		"tls_session_features":   flag("_TLS_SESSION_FEATURES_"),
		"use_client_ptr":         flag("_USE_CLIENT_PTR_"),
		"use_ct_file":            func(l *layer, _ []string) { l.e.Define("_USE_CT_FILE_", "") },
		"use_cw_file":            func(l *layer, _ []string) { l.e.Define("USE_CW_FILE", "") },
		"uucpdomain":             table("_UUDOMAIN_TABLE_", "uudomain", "uucpdomain", "uudomain"),
		"virtuser_entire_domain": flag("_VIRTUSER_ENTIRE_DOMAIN_"),
		"virtusertable":          table("_VIRTUSER_TABLE_", "virtuser", "virtuser", "virtusertable"),
		"vnet": func(l *layer, _ []string) {
			l.localConfig = append(l.localConfig, "CAvnet.ibm.com vnet rscs ipnet")
		},
	}
}

// ebinDir is confEBINDIR, where sendmail's helper programs live.
func (l *layer) ebinDir() string {
	if l.defined("confEBINDIR") {
		return l.flat("confEBINDIR")
	}
	return "/usr/libexec"
}

func (l *layer) feature(_ *Engine, a []string) (string, error) {
	if l.defined("_MAILER_DEFINED_") {
		l.warn("*** ERROR: FEATURE() should be before MAILER()\n")
	}
	err := l.runFeature(arg(a, 1), a[min(2, len(a)):])
	return l.flushDiv0(), err
}

// flushDiv0 returns the text that writes what features wrote for
// diversion 0: it goes there whatever the current diversion is, and the
// builtin learns the diversion to return to from divnum.
func (l *layer) flushDiv0() string {
	if l.div0 == "" {
		return ""
	}
	l.pendingDiv0, l.div0 = l.div0, ""
	return div0Macro + "(divnum)"
}

// div0Macro writes pendingDiv0 to diversion 0 and returns to the diversion
// given as its argument.
const div0Macro = "__mc2cf_div0__"

func (l *layer) writeDiv0(_ *Engine, a []string) (string, error) {
	text := l.pendingDiv0
	l.pendingDiv0 = ""
	return "divert(0)" + text + "divert(" + arg(a, 1) + ")", nil
}

// featureDiv0 is the shape of what a feature file writes to diversion 0:
// B a newline, C its VERSIONID comment line. Features not listed write
// "BC"; the cf lines do not depend on it, but text that follows the call
// on the same line of the mc lands where it lands with m4.
var featureDiv0 = map[string]string{
	"bcc": "", "drac": "", "prefixmod": "", "sts": "", "tls_failures": "", "vnet": "",
	"blacklist_recipients": "BC", // then blocklist_recipients
	"block_bad_helo":       "C", "check_cert_altnames": "C", "require_rdns": "C", "msp": "C",
	"conncontrol": "BCB", "ratecontrol": "BCB", "rhsbl": "BCB",
	"use_client_ptr": "BCB", "use_ct_file": "BCB", "use_cw_file": "BCB",
	"domainmap": "BB", "dnsbl": "BCBB",
	"notsticky": "BCCCCC",
}

// runFeature applies a feature with its arguments (the ones after the name).
func (l *layer) runFeature(name string, args []string) error {
	fn, ok := features[name]
	if !ok {
		p := l.cfDir + "feature/" + name + ".m4"
		return fmt.Errorf("cannot open `%s': No such file or directory", p)
	}
	shape, ok := featureDiv0[name]
	if !ok {
		shape = "BC"
	}
	for _, c := range shape {
		if c == 'C' {
			// The same "$Id: name.m4," marker m4 leaves, which is how
			// sendmaild tells the FEATUREs a cf was built with.
			l.div0 += "#####  $Id: " + name + ".m4, built into mc2cf  #####"
		}
		l.div0 += "\n"
	}
	l.e.Define("_ARG_", arg(args, 0))
	fn(l, args)
	return nil
}

func featureAccessDB(l *layer, a []string) {
	l.e.Define("_ACCESS_TABLE_", "")
	l.e.Define("_TAG_DELIM_", ":")
	for _, opt := range []string{arg(a, 1), arg(a, 2), arg(a, 3)} {
		switch strings.ToLower(opt) {
		case "skip":
			l.e.Define("_ACCESS_SKIP_", "1")
		case "lookupdotdomain":
			l.e.Define("_LOOKUPDOTDOMAIN_", "1")
		case "relaytofulladdress":
			l.e.Define("_RELAY_FULL_ADDR_", "1")
		}
	}
	l.e.Define("_ATMPF_", "<TMPF>")
	spec := arg(a, 0)
	switch {
	case spec == "":
		spec = "DATABASE_MAP_TYPE -T<TMPF> MAIL_SETTINGS_DIR`'access"
	case spec == "LDAP":
		spec = ldapSpec("access", true)
	case strings.HasPrefix(spec, "sequence "), strings.Contains(spec, "<TMPF>"):
	default:
		l.warn("*** WARNING: missing -T<TMPF> in argument of FEATURE(`access_db', %s)\n", spec)
		if i := strings.IndexByte(spec, ' '); i >= 0 {
			spec = spec[:i] + " -T<TMPF> " + spec[i:]
		} else {
			spec = " -T<TMPF> " + spec
		}
	}
	if l.defined("_GREET_PAUSE_") {
		l.warn("*** WARNING: FEATURE(`greet_pause') before FEATURE(`access_db')\n\tgreet_pause will not use access_db!")
	}
	l.localConfig = append(l.localConfig, "Kaccess "+spec)
}

func featureDelayChecks(l *layer, a []string) {
	l.e.Define("_DELAY_CHECKS_", "1")
	if v := arg(a, 0); v != "" {
		switch strings.ToLower(v[:1]) {
		case "f":
			l.e.Define("_SPAM_FRIEND_", "1")
			l.e.Define("_SPAM_FH_", "1")
		case "h":
			l.e.Define("_SPAM_HATER_", "1")
			l.e.Define("_SPAM_FH_", "1")
		default:
			l.warn("*** ERROR: illegal argument %s for FEATURE(delay_checks)\n", v)
		}
	}
	if arg(a, 1) == "" {
		l.e.Define("_DELAY_COMPAT_8_10_", "1")
	}
}

// controlFeature is conncontrol and ratecontrol, which differ only in names.
func controlFeature(name, marker, immediate, reply string) featureFunc {
	return func(l *layer, a []string) {
		if !l.defined("_ACCESS_TABLE_") {
			l.warn("*** ERROR: FEATURE(`%s') requires FEATURE(`access_db')\n", name)
		} else {
			l.e.Define(marker, "1")
			switch v := arg(a, 0); {
			case v == "":
			case strings.EqualFold(v, "nodelay"):
				if l.defined("_DELAY_CHECKS_") {
					l.e.Define(immediate, "1")
					l.e.Define("_CONTROL_IMMEDIATE_", "1")
				} else {
					l.warn("*** ERROR: FEATURE(`%s', `nodelay') requires FEATURE(`delay_checks')", name)
				}
			default:
				l.warn("*** ERROR: unknown parameter %s for FEATURE(`%s')", v, name)
			}
			l.e.Define("_FFR_SRCHLIST_A", "1")
			switch v := arg(a, 1); v {
			case "":
			case "terminate":
				l.e.Define(reply, "421")
			default:
				l.warn("*** ERROR: FEATURE(`%s'): unknown argument %s\n", name, v)
			}
		}
		l.defIfNot(reply, "452")
	}
}

func rejectOrNospecial(name, marker string) featureFunc {
	return func(l *layer, a []string) {
		v := arg(a, 0)
		switch {
		case v == "":
			l.warn("*** ERROR: missing argument for FEATURE(%s):\n\t\tuse `reject' or `nospecial'. See cf/README.\n", name)
			l.e.Define(marker, "e")
		case v[0] == 'r':
			l.e.Define(marker, "r")
		case v[0] == 'n':
			l.e.Define(marker, "n")
		default:
			l.warn("*** ERROR: illegal argument %s for FEATURE(%s)\n", v, name)
		}
	}
}

func featureLDAPRouting(l *layer, a []string) {
	if arg(a, 0) == "" || arg(a, 1) == "" {
		l.e.Define("_LDAP_ROUTING_WARN_", "yes")
	}
	if arg(a, 4) != "" {
		l.e.Define("_LDAP_ROUTE_NODOMAIN_", "yes")
	}
	switch arg(a, 2) {
	case "", "passthru":
		l.e.Define("_LDAP_ROUTING_", "_PASS_THROUGH_")
	case "sendertoo":
		l.e.Define("_LDAP_ROUTING_", "_MUST_EXIST_")
		l.e.Define("_LDAP_SENDER_MUST_EXIST_", "")
	default:
		l.e.Define("_LDAP_ROUTING_", "_MUST_EXIST_")
	}
	switch arg(a, 3) {
	case "strip":
		l.e.Define("_LDAP_ROUTE_DETAIL_", "_STRIP_")
	case "preserve":
		l.e.Define("_LDAP_ROUTE_DETAIL_", "_PRESERVE_")
	}
	switch arg(a, 5) {
	case "", "queue":
		l.e.Define("_LDAP_ROUTE_MAPTEMP_", "_QUEUE_")
	case "tempfail":
		l.e.Define("_LDAP_ROUTE_MAPTEMP_", "_TEMPFAIL_")
	}
	l.e.Define("_NEED_SMTPOPMODES_", "1")
	mh, mra := arg(a, 0), arg(a, 1)
	if mh == "" {
		mh = "ldap -1 -T<TMPF> -v mailHost -k (&(objectClass=inetLocalMailRecipient)(mailLocalAddress=%0))"
	}
	if mra == "" {
		mra = "ldap -1 -T<TMPF> -v mailRoutingAddress -k (&(objectClass=inetLocalMailRecipient)(mailLocalAddress=%0))"
	}
	l.localConfig = append(l.localConfig, "Kldapmh "+mh, "Kldapmra "+mra)
}
