// SPDX-License-Identifier: MIT

package mc

import (
	"fmt"
	"strings"
)

// MAILER(name): the M lines of every mailer in sendmail-cf 8.17's mailer/
// folder. The settings (*_MAILER_PATH, *_MAILER_FLAGS, ...) are read when
// MAILER() runs, as with the real files, so a definition placed after it has
// no effect. Values go into the M line as the mc wrote them and are expanded
// once when the cf is written.

// modifyMailerFlags is MODIFY_MAILER_FLAGS(which, spec): "+x" adds flags,
// "-x" removes them, anything else replaces the mailer's flags outright.
func (l *layer) modifyMailerFlags(which, spec string) {
	if spec == "" {
		l.e.Define(which+"_MF_", "")
		l.e.Define(which+"_MF_A_", "")
		l.e.Define(which+"_MF_D_", "")
		return
	}
	switch spec[0] {
	case '+':
		l.e.Define(which+"_MF_A_", l.raw(which+"_MF_A_")+spec[1:])
	case '-':
		l.e.Define(which+"_MF_D_", l.raw(which+"_MF_D_")+spec[1:])
	default:
		l.e.Define(which+"_MF_", spec)
		l.e.Define(which+"_MF_A_", "")
		l.e.Define(which+"_MF_D_", "")
	}
}

// modmf applies the MODIFY_MAILER_FLAGS changes recorded for which to flags:
// the first occurrence of each removed letter goes, then each added letter
// is appended unless present.
func (l *layer) modmf(flags, which string) string {
	if l.defined(which + "_MF_") {
		return l.flat(which + "_MF_")
	}
	for _, c := range l.flat(l.raw(which + "_MF_D_")) {
		if i := strings.IndexRune(flags, c); i >= 0 {
			flags = flags[:i] + flags[i+1:]
		}
	}
	for _, c := range l.flat(l.raw(which + "_MF_A_")) {
		if !strings.ContainsRune(flags, c) {
			flags += string(c)
		}
	}
	return flags
}

// optins is _OPTINS: pre, the value and post when the macro is defined.
func (l *layer) optins(name, pre, post string) string {
	if !l.defined(name) {
		return ""
	}
	return pre + l.raw(name) + post
}

// qgrp is the optional " Q=group," of a mailer.
func (l *layer) qgrp(name string) string {
	if l.raw(name) == "" {
		return ""
	}
	return " Q=" + l.raw(name) + ","
}

func (l *layer) fl(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		if strings.HasPrefix(n, "=") {
			b.WriteString(n[1:])
			continue
		}
		b.WriteString(l.flat(l.raw(n)))
	}
	return b.String()
}

func (l *layer) mailer(_ *Engine, a []string) (string, error) {
	name := arg(a, 1)
	mn := arg(a, 2)
	if mn == "" {
		mn = name
	}
	l.defIfNot("_MAILER_DEFINED_", "1")
	key := "_MAILER_" + mn + "_"
	if l.defined(key) {
		l.warn("*** ERROR: MAILER(%s) already included\n", mn)
		return "", nil
	}
	fn, ok := mailers[name]
	if !ok {
		return "", fmt.Errorf("cannot open `%smailer/%s.m4': No such file or directory", l.cfDir, name)
	}
	l.e.Define(key, "")
	l.e.Define("_ARG_", arg(a, 2))
	fn(l)
	return "", nil
}

func (l *layer) addMailer(lines ...string) {
	l.mailers = append(l.mailers, strings.Join(lines, "\n"))
}

var mailers map[string]func(l *layer)

func init() {
	mailers = map[string]func(l *layer){
		"local":    mailerLocal,
		"smtp":     mailerSMTP,
		"procmail": mailerProcmail,
		"cyrus": func(l *layer) {
			l.defIfNot("CYRUS_MAILER_FLAGS", "Ah5@/:|")
			l.defIfNot("CYRUS_MAILER_PATH", "/usr/sbin/cyrdeliver")
			l.defIfNot("CYRUS_MAILER_ARGS", "cyrdeliver -e -m $h -- $u")
			l.defIfNot("CYRUS_MAILER_USER", "cyrus:mail")
			l.defIfNot("CYRUS_BB_MAILER_FLAGS", "u")
			l.defIfNot("CYRUS_BB_MAILER_ARGS", "cyrdeliver -e -m $u")
			max := l.optins("CYRUS_MAILER_MAX", "M=", ", ")
			q := l.qgrp("CYRUS_MAILER_QGRP")
			l.addMailer("Mcyrus,\t\tP="+l.raw("CYRUS_MAILER_PATH")+", F="+l.modmf(l.fl("=lsDFMnPq", "CYRUS_MAILER_FLAGS"), "CYRUS")+", S=EnvFromL, R=EnvToL/HdrToL,",
				"\t\t"+max+"U="+l.raw("CYRUS_MAILER_USER")+", T=DNS/RFC822/X-Unix,"+q,
				"\t\tA="+l.raw("CYRUS_MAILER_ARGS"))
			l.addMailer("Mcyrusbb,\tP="+l.raw("CYRUS_MAILER_PATH")+", F="+l.modmf(l.fl("=lsDFMnP", "CYRUS_BB_MAILER_FLAGS"), "CYRUS")+", S=EnvFromL, R=EnvToL/HdrToL,",
				"\t\t"+max+"U="+l.raw("CYRUS_MAILER_USER")+", T=DNS/RFC822/X-Unix,"+q,
				"\t\tA="+l.raw("CYRUS_BB_MAILER_ARGS"))
		},
		"cyrusv2": func(l *layer) {
			l.defIfNot("_DEF_CYRUSV2_MAILER_FLAGS", "lsDFMnqXz")
			l.defIfNot("CYRUSV2_MAILER_FLAGS", "A@/:|m")
			l.defIfNot("CYRUSV2_MAILER_ARGS", "FILE /var/run/cyrus/socket/lmtp")
			l.addMailer("Mcyrusv2,\tP=[IPC], F="+l.modmf(l.fl("_DEF_CYRUSV2_MAILER_FLAGS", "CYRUSV2_MAILER_FLAGS"), "CYRUSV2")+",",
				"\t\tS=EnvFromSMTP/HdrFromL, R=EnvToL/HdrToL, E=\\r\\n,",
				"\t\t"+l.optins("CYRUSV2_MAILER_MAXMSGS", "m=", ", ")+l.optins("CYRUSV2_MAILER_MAXRCPTS", "r=", ", ")+l.optins("CYRUSV2_MAILER_CHARSET", "C=", ", ")+"T=DNS/RFC822/SMTP,"+l.qgrp("CYRUSV2_MAILER_QGRP"),
				"\t\tA="+l.raw("CYRUSV2_MAILER_ARGS"))
		},
		"fax": func(l *layer) {
			l.defIfNot("FAX_MAILER_ARGS", "faxmail -d $u@$h $f")
			l.defIfNot("FAX_MAILER_PATH", "/usr/bin/faxmail")
			l.defIfNot("FAX_MAILER_MAX", "100000")
			l.addMailer("Mfax,\t\tP="+l.raw("FAX_MAILER_PATH")+", F=DFMhu, S=14, R=24,",
				"\t\tM="+l.raw("FAX_MAILER_MAX")+", T=X-Phone/X-FAX/X-Unix,"+l.qgrp("FAX_MAILER_QGRP"),
				"\t\tA="+l.raw("FAX_MAILER_ARGS"))
			l.localConfig = append(l.localConfig, "CPFAX")
		},
		"mail11": func(l *layer) {
			l.defIfNot("MAIL11_MAILER_PATH", "/usr/etc/mail11")
			l.defIfNot("MAIL11_MAILER_FLAGS", "nsFx")
			l.defIfNot("MAIL11_MAILER_ARGS", "mail11 $g $x $h $u")
			l.e.Define("_USE_DECNET_SYNTAX_", "")
			l.localConfig = append(l.localConfig, "CPDECNET")
			l.addMailer("Mmail11, P="+l.raw("MAIL11_MAILER_PATH")+", F="+l.modmf(l.fl("MAIL11_MAILER_FLAGS"), "MAIL11")+", S=Mail11From, R=Mail11To,",
				"\tT=DNS/X-DECnet/X-Unix,"+l.qgrp("MAIL11_MAILER_QGRP"),
				"\tA="+l.raw("MAIL11_MAILER_ARGS"))
		},
		"phquery": func(l *layer) {
			l.defIfNot("PH_MAILER_PATH", "/usr/local/etc/phquery")
			l.defIfNot("PH_MAILER_FLAGS", "ehmu")
			l.defIfNot("PH_MAILER_ARGS", "phquery -- $u")
			l.addMailer("Mph,\t\tP="+l.raw("PH_MAILER_PATH")+", F="+l.modmf(l.fl("=nrDFM", "PH_MAILER_FLAGS"), "PH")+", S=EnvFromL, R=EnvToL/HdrToL,",
				"\t\tT=DNS/RFC822/X-Unix,"+l.qgrp("PH_MAILER_QGRP"),
				"\t\tA="+l.raw("PH_MAILER_ARGS"))
		},
		"pop": func(l *layer) {
			l.defIfNot("POP_MAILER_PATH", "/usr/lib/mh/spop")
			l.defIfNot("POP_MAILER_FLAGS", "Penu")
			l.defIfNot("POP_MAILER_ARGS", "pop $u")
			l.addMailer("Mpop,\t\tP="+l.raw("POP_MAILER_PATH")+", F="+l.modmf(l.fl("=lsDFMq", "POP_MAILER_FLAGS"), "POP")+", S=EnvFromL, R=EnvToL/HdrToL,",
				"\t\tT=DNS/RFC822/X-Unix,"+l.qgrp("POP_MAILER_QGRP"),
				"\t\tA="+l.raw("POP_MAILER_ARGS"))
			l.localConfig = append(l.localConfig, "CPPOP")
		},
		"qpage": func(l *layer) {
			l.defIfNot("QPAGE_MAILER_PATH", "/usr/local/bin/qpage")
			l.defIfNot("QPAGE_MAILER_FLAGS", "mDFMs")
			l.defIfNot("QPAGE_MAILER_ARGS", "qpage -l0 -m -P$u")
			l.defIfNot("QPAGE_MAILER_MAX", "4096")
			l.addMailer("Mqpage, P="+l.raw("QPAGE_MAILER_PATH")+", F="+l.modmf(l.fl("QPAGE_MAILER_FLAGS"), "QPAGE")+",",
				"\tM="+l.raw("QPAGE_MAILER_MAX")+",  T=DNS/RFC822/X-Unix,"+l.qgrp("QPAGE_MAILER_QGRP"),
				"\tA="+l.raw("QPAGE_MAILER_ARGS"))
		},
		"ssh": func(l *layer) {
			if !l.defined("SSH_MAILER_PATH") {
				if l.defined("SSH_PATH") {
					l.e.Define("SSH_MAILER_PATH", l.flat("SSH_PATH"))
				} else {
					l.e.Define("SSH_MAILER_PATH", "/usr/bin/ssh")
				}
			}
			l.defIfNot("SSH_REMOTE_COMMAND", "/usr/sbin/sendmail -bs")
			l.defIfNot("_DEF_SSH_MAILER_FLAGS", "mDFMuX")
			l.defIfNot("SSH_MAILER_FLAGS", "")
			l.defIfNot("SSH_MAILER_ARGS", "ssh -o BatchMode=yes -o EscapeChar=none  -- SSH_MAILER_HOST SSH_REMOTE_COMMAND")
			l.defIfNot("SSH_MAILER_HOST", "$h")
			if !l.defined("SSH_MAILER_USER") {
				l.warn("*** SSH_MAILER_USER must be defined before MAILER(`ssh').\n")
			}
			if !l.defined("SSH_MAILER_DIR") {
				l.warn("*** SSH_MAILER_DIR must be defined before MAILER(`ssh').\n")
			}
			l.addMailer("Mssh,\tP="+l.raw("SSH_MAILER_PATH")+", F="+l.modmf(l.fl("_DEF_SSH_MAILER_FLAGS", "SSH_MAILER_FLAGS"), "SSH")+", S=EnvFromSMTP/HdrFromSMTP, R="+l.masqR("EnvToSMTP/HdrFromSMTP", "EnvToSMTP")+", E=\\r\\n, L=990,",
				"\t"+l.optins("SSH_MAILER_MAX", "M=", ", ")+l.optins("SSH_MAILER_MAXMSGS", "m=", ", ")+l.optins("SSH_MAILER_MAXRCPTS", "r=", ", ")+l.optins("SSH_MAILER_CHARSET", "C=", ", ")+"T=DNS/RFC822/SMTP,"+l.qgrp("SSH_MAILER_QGRP"),
				"\tU="+l.raw("SSH_MAILER_USER")+", D="+l.raw("SSH_MAILER_DIR")+",",
				"\tA="+l.raw("SSH_MAILER_ARGS"))
		},
		"usenet": func(l *layer) {
			l.defIfNot("USENET_MAILER_PATH", "/usr/lib/news/inews")
			l.defIfNot("USENET_MAILER_FLAGS", "rsDFMmn")
			l.defIfNot("USENET_MAILER_ARGS", "inews -m -h -n")
			l.addMailer("Musenet,\tP="+l.raw("USENET_MAILER_PATH")+", F="+l.modmf(l.fl("USENET_MAILER_FLAGS"), "USENET")+", S=EnvFromL, R=EnvToL,",
				"\t\t"+l.optins("USENET_MAILER_MAX", "M=", ", ")+"T=X-Usenet/X-Usenet/X-Unix,"+l.qgrp("USENET_MAILER_QGRP"),
				"\t\tA="+l.raw("USENET_MAILER_ARGS")+" $u")
		},
		"uucp": mailerUUCP,
		"xagent": func(l *layer) {
			l.defIfNot("XAGENT_MAILER_PATH", "/usr/lib/xagent")
			l.defIfNot("XAGENT_MAILER_FLAGS", "DFMueXLn")
			l.defIfNot("XAGENT_MAILER_ARGS", "xagent $h $u")
			l.addMailer("Mxagent,\tP="+l.raw("XAGENT_MAILER_PATH")+", F="+l.raw("XAGENT_MAILER_FLAGS")+", S=11/31, R=21/31,",
				"\t\t"+l.optins("XAGENT_MAILER_MAX", "M=", ", ")+"T=DNS/RFC822/X-Unix,",
				"\t\tA="+l.raw("XAGENT_MAILER_ARGS")+", E=\\n")
		},
	}
}

// masqR picks the recipient rulesets of SMTP-like mailers: FEATURE(allmasquerade)
// rewrites header recipients too.
func (l *layer) masqR(all, plain string) string {
	if l.defined("_ALL_MASQUERADE_") {
		return all
	}
	return plain
}

func mailerLocal(l *layer) {
	l.defIfNot("_DEF_LOCAL_MAILER_FLAGS", "lsDFMAw5:/|@q")
	l.defIfNot("LOCAL_MAILER_FLAGS", "Prmn9")
	l.defIfNot("LOCAL_MAILER_PATH", "/bin/mail")
	l.defIfNot("LOCAL_MAILER_ARGS", "mail -d $u")
	l.defIfNot("LOCAL_MAILER_DSN_DIAGNOSTIC_CODE", "X-Unix")
	l.defIfNot("_DEF_LOCAL_SHELL_FLAGS", "lsDFMoq")
	l.defIfNot("LOCAL_SHELL_FLAGS", "eu9")
	l.defIfNot("LOCAL_SHELL_PATH", "/bin/sh")
	l.defIfNot("LOCAL_SHELL_ARGS", "sh -c $u")
	l.defIfNot("LOCAL_SHELL_DIR", "$z:/")
	rwr := "S=EnvFromL/HdrFromL, R=EnvToL/HdrToL"
	if l.defined("_LOCAL_LMTP_") {
		rwr = "S=EnvFromSMTP/HdrFromL, R=EnvToL/HdrToL"
	}
	l.addMailer("Mlocal,\t\tP="+l.raw("LOCAL_MAILER_PATH")+", F="+l.modmf(l.fl("_DEF_LOCAL_MAILER_FLAGS", "LOCAL_MAILER_FLAGS"), "LOCAL")+", "+rwr+","+l.optins("LOCAL_MAILER_EOL", " E=", ", "),
		"\t\t"+l.optins("LOCAL_MAILER_MAX", "M=", ", ")+l.optins("LOCAL_MAILER_MAXMSGS", "m=", ", ")+l.optins("LOCAL_MAILER_MAXRCPTS", "r=", ", ")+l.optins("LOCAL_MAILER_CHARSET", "C=", ", ")+"T=DNS/RFC822/"+l.raw("LOCAL_MAILER_DSN_DIAGNOSTIC_CODE")+","+l.qgrp("LOCAL_MAILER_QGRP"),
		"\t\tA="+l.raw("LOCAL_MAILER_ARGS"))
	l.addMailer("Mprog,\t\tP="+l.raw("LOCAL_SHELL_PATH")+", F="+l.modmf(l.fl("_DEF_LOCAL_SHELL_FLAGS", "LOCAL_SHELL_FLAGS"), "SHELL")+", S=EnvFromL/HdrFromL, R=EnvToL/HdrToL, D="+l.raw("LOCAL_SHELL_DIR")+",",
		"\t\t"+l.optins("LOCAL_MAILER_MAX", "M=", ", ")+"T=X-Unix/X-Unix/X-Unix,"+l.qgrp("LOCAL_PROG_QGRP"),
		"\t\tA="+l.raw("LOCAL_SHELL_ARGS"))
}

func mailerSMTP(l *layer) {
	l.defIfNot("_DEF_SMTP_MAILER_FLAGS", "mDFMuX")
	l.defIfNot("SMTP_MAILER_FLAGS", "")
	l.defIfNot("SMTP_MAILER_LL", "990")
	l.defIfNot("RELAY_MAILER_LL", "2040")
	l.defIfNot("RELAY_MAILER_FLAGS", "SMTP_MAILER_FLAGS")
	for _, n := range []string{"SMTP", "ESMTP", "SMTP8", "DSMTP", "RELAY"} {
		l.defIfNot(n+"_MAILER_ARGS", "TCP $h")
	}
	opt := l.optins("SMTP_MAILER_MAX", "M=", ", ") + l.optins("SMTP_MAILER_MAXMSGS", "m=", ", ") + l.optins("SMTP_MAILER_MAXRCPTS", "r=", ", ") + l.optins("SMTP_MAILER_CHARSET", "C=", ", ")
	r := l.masqR("EnvToSMTP/HdrFromSMTP", "EnvToSMTP")
	for _, m := range []struct{ name, which, extra string }{
		{"smtp", "SMTP", ""}, {"esmtp", "ESMTP", "a"}, {"smtp8", "SMTP8", "8"}, {"dsmtp", "DSMTP", "a%"},
	} {
		l.addMailer("M"+m.name+",\t\tP=[IPC], F="+l.modmf(l.fl("_DEF_SMTP_MAILER_FLAGS", "="+m.extra, "SMTP_MAILER_FLAGS"), m.which)+", S=EnvFromSMTP/HdrFromSMTP, R="+r+", E=\\r\\n, L="+l.raw("SMTP_MAILER_LL")+",",
			"\t\t"+opt+"T=DNS/RFC822/SMTP,"+l.qgrp(m.which+"_MAILER_QGRP"),
			"\t\tA="+l.raw(m.which+"_MAILER_ARGS"))
	}
	l.addMailer("Mrelay,\t\tP=[IPC], F="+l.modmf(l.fl("_DEF_SMTP_MAILER_FLAGS", "=a8", "RELAY_MAILER_FLAGS"), "RELAY")+", S=EnvFromSMTP/HdrFromSMTP, R="+l.masqR("MasqSMTP/MasqRelay", "MasqSMTP")+", E=\\r\\n, L="+l.raw("RELAY_MAILER_LL")+",",
		"\t\t"+l.optins("RELAY_MAILER_CHARSET", "C=", ", ")+l.optins("RELAY_MAILER_MAXMSGS", "m=", ", ")+l.optins("SMTP_MAILER_MAXRCPTS", "r=", ", ")+"T=DNS/RFC822/SMTP,"+l.qgrp("RELAY_MAILER_QGRP"),
		"\t\tA="+l.raw("RELAY_MAILER_ARGS"))
}

func mailerProcmail(l *layer) {
	if !l.defined("PROCMAIL_MAILER_PATH") {
		if l.defined("PROCMAIL_PATH") {
			l.e.Define("PROCMAIL_MAILER_PATH", l.flat("PROCMAIL_PATH"))
		} else {
			l.e.Define("PROCMAIL_MAILER_PATH", "/usr/local/bin/procmail")
		}
	}
	l.defIfNot("PROCMAIL_MAILER_FLAGS", "SPhnu9")
	l.defIfNot("PROCMAIL_MAILER_ARGS", "procmail -Y -m $h $f $u")
	max := ""
	if l.defined("PROCMAIL_MAILER_MAX") {
		max = "M=" + l.raw("PROCMAIL_MAILER_MAX") + ", "
	}
	l.addMailer("Mprocmail,\tP="+l.raw("PROCMAIL_MAILER_PATH")+", F="+l.modmf(l.fl("=DFM", "PROCMAIL_MAILER_FLAGS"), "PROCMAIL")+", S=EnvFromSMTP/HdrFromSMTP, R=EnvToSMTP/HdrFromSMTP,",
		"\t\t"+max+"T=DNS/RFC822/X-Unix,"+l.qgrp("PROCMAIL_MAILER_QGRP"),
		"\t\tA="+l.raw("PROCMAIL_MAILER_ARGS"))
}

func mailerUUCP(l *layer) {
	l.defIfNot("UUCP_MAILER_PATH", "/usr/bin/uux")
	l.defIfNot("UUCP_MAILER_ARGS", "uux - -r -a$g -gC $h!rmail ($u)")
	l.defIfNot("UUCP_MAILER_FLAGS", "")
	l.defIfNot("UUCP_MAILER_MAX", "ifdef(`UUCP_MAX_SIZE', `UUCP_MAX_SIZE', 100000)")
	smtp := l.defined("_MAILER_smtp_")
	if !smtp {
		l.warn("*** MAILER(`smtp') must appear before MAILER(`uucp')\n    if uucp-dom should be included.")
	}
	p := l.raw("UUCP_MAILER_PATH")
	cs := l.optins("UUCP_MAILER_CHARSET", "C=", ", ")
	q := l.qgrp("UUCP_MAILER_QGRP")
	mx := l.raw("UUCP_MAILER_MAX")
	a := l.raw("UUCP_MAILER_ARGS")
	one := func(name, base, s, r string) {
		l.addMailer("M"+name+"P="+p+", F="+l.modmf(l.fl("="+base, "UUCP_MAILER_FLAGS"), "UUCP")+", S="+s+", R="+r+",",
			"\t\tM="+mx+", "+cs+"T=X-UUCP/X-UUCP/X-Unix,"+q,
			"\t\tA="+a)
	}
	one("uucp,\t\t", "DFMhuUd", "FromU", "EnvToU/HdrToU")
	one("uucp-old,\t", "DFMhuUd", "FromU", "EnvToU/HdrToU")
	one("suucp,\t\t", "mDFMhuUd", "FromU", "EnvToU/HdrToU")
	one("uucp-new,\t", "mDFMhuUd", "FromU", "EnvToU/HdrToU")
	if smtp {
		r := l.masqR("EnvToSMTP/HdrFromSMTP", "EnvToSMTP")
		one("uucp-dom,\t", "mDFMhud", "EnvFromUD/HdrFromSMTP", r)
		one("uucp-uudom,\t", "mDFMhud", "EnvFromUUD/HdrFromSMTP", r)
	}
}
