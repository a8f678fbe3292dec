// SPDX-License-Identifier: MIT

package mc

import "strings"

// The features that change the mailers: the local mailer's program
// (local_lmtp, local_procmail) and the client-only configurations
// (nullclient, msp), which set up the mailers themselves.

func featureLocalLMTP(l *layer, a []string) {
	if l.defined("_MAILER_local_") {
		l.warn("*** FEATURE(local_lmtp) must occur before MAILER(local)\n")
	}
	p := arg(a, 0)
	if p == "" {
		p = l.ebinDir() + "/mail.local"
	}
	l.e.Define("LOCAL_MAILER_PATH", p)
	l.e.Define("LOCAL_MAILER_FLAGS", "PSXmnz9")
	args := arg(a, 1)
	if args == "" {
		args = "mail.local -l"
	}
	l.e.Define("LOCAL_MAILER_ARGS", args)
	l.e.Define("LOCAL_MAILER_DSN_DIAGNOSTIC_CODE", "SMTP")
	l.e.Define("_LOCAL_LMTP_", "1")
}

func featureLocalProcmail(l *layer, a []string) {
	if l.defined("_MAILER_local_") {
		l.warn("*** FEATURE(local_procmail) must occur before MAILER(local)\n")
	}
	p := arg(a, 0)
	if p == "" {
		if l.defined("PROCMAIL_MAILER_PATH") {
			p = l.flat("PROCMAIL_MAILER_PATH")
		} else {
			p = "/usr/local/bin/procmail"
		}
	}
	l.e.Define("LOCAL_MAILER_PATH", p)
	args := arg(a, 1)
	if args == "" {
		args = "procmail -a $h -d $u"
	}
	l.e.Define("LOCAL_MAILER_ARGS", args)
	fl := arg(a, 2)
	if fl == "" {
		fl = "SPfhn9"
	}
	l.e.Define("LOCAL_MAILER_FLAGS", fl)
	l.e.Undefine("_LOCAL_LMTP_")
	l.e.Undefine("LOCAL_MAILER_DSN_DIAGNOSTIC_CODE")
}

func featureNullClient(l *layer, a []string) {
	hub := arg(a, 0)
	if hub == "" {
		l.warn(`Feature "nullclient" requires argument`)
	} else {
		l.e.Define("_NULL_CLIENT_", hub)
	}
	l.e.Undefine("ALIAS_FILE")
	l.e.Define("MAIL_HUB", hub)
	l.e.Define("SMART_HOST", hub)
	l.e.Define("confFORWARD_PATH", "")
	l.defIfNot("confFROM_HEADER", "<$g>")
	l.e.Define("_DEF_LOCAL_MAILER_FLAGS", "lsDFM5q")
	l.e.Define("MASQUERADE_NAME", hub)
	_ = l.runFeature("allmasquerade", nil)
	_ = l.runFeature("masquerade_envelope", nil)
	_, _ = l.mailer(l.e, []string{"MAILER", "local"})
	_, _ = l.mailer(l.e, []string{"MAILER", "smtp"})
}

func featureMSP(l *layer, a []string) {
	l.e.Undefine("ALIAS_FILE")
	l.e.Define("confDELIVERY_MODE", "i")
	l.e.Define("confUSE_MSP", "True")
	l.e.Define("confFORWARD_PATH", "")
	l.e.Define("confPRIVACY_FLAGS", "goaway,noetrn,restrictqrun")
	l.e.Define("confDONT_PROBE_INTERFACES", "True")
	l.defIfNot("confRUN_AS_USER", "smmsp")
	if !l.defined("confTRUSTED_USER") {
		u := l.flat("confRUN_AS_USER")
		if i := strings.IndexByte(u, ':'); i >= 0 {
			u = u[:i]
		}
		l.e.Define("confTRUSTED_USER", u)
	}
	if l.defined("MSP_QUEUE_DIR") {
		l.e.Define("QUEUE_DIR", l.flat("MSP_QUEUE_DIR"))
	} else {
		l.e.Define("QUEUE_DIR", "/var/spool/clientmqueue")
	}
	host := arg(a, 0)
	if host == "" {
		host = "[localhost]"
	}
	l.e.Define("_MTA_HOST_", host)
	if arg(a, 1) == "MSA" {
		l.e.Define("RELAY_MAILER_ARGS", "TCP $h 587")
	}
	if !l.defined("confPID_FILE") {
		l.e.Define("confPID_FILE", l.flat("QUEUE_DIR")+"/sm-client.pid")
	}
	l.e.Define("confQUEUE_FILE_MODE", "0660")
	if l.defined("STATUS_FILE") {
		sf := l.flat("STATUS_FILE")
		if i := strings.Index(sf, "sendmail.st"); i >= 0 {
			sf = sf[:i] + "sm-client.st"
		}
		l.e.Define("STATUS_FILE", sf)
	} else {
		l.e.Define("STATUS_FILE", l.flat("QUEUE_DIR")+"/sm-client.st")
	}
	_ = l.runFeature("no_default_msa", nil)
	if l.raw("_DPO_") == "" {
		l.e.Define("_DPO_", "\nO DaemonPortOptions=Name=NoMTA, Addr=127.0.0.1, M=E")
	}
	l.e.Define("_DEF_LOCAL_MAILER_FLAGS", "")
	l.e.Define("_DEF_LOCAL_SHELL_FLAGS", "")
	l.e.Define("LOCAL_MAILER_PATH", "[IPC]")
	l.e.Define("LOCAL_MAILER_FLAGS", "lmDFMuXkw5")
	l.e.Define("LOCAL_MAILER_ARGS", "TCP $h")
	l.e.Define("LOCAL_MAILER_DSN_DIAGNOSTIC_CODE", "SMTP")
	l.e.Define("LOCAL_SHELL_PATH", "[IPC]")
	l.e.Define("LOCAL_SHELL_FLAGS", "lmDFMuXk5")
	l.e.Define("LOCAL_SHELL_ARGS", "TCP $h")
	l.modifyMailerFlags("SMTP", "+k5")
	l.modifyMailerFlags("ESMTP", "+k5")
	l.modifyMailerFlags("DSMTP", "+k5")
	l.modifyMailerFlags("SMTP8", "+k5")
	l.modifyMailerFlags("RELAY", "+k")
	_, _ = l.mailer(l.e, []string{"MAILER", "local"})
	_, _ = l.mailer(l.e, []string{"MAILER", "smtp"})
	l.localConfig = append(l.localConfig, "D{MTAHost}"+host)
}
