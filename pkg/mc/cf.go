// SPDX-License-Identifier: MIT

package mc

import (
	"fmt"
	"io"
	"path"
	"strings"
)

// The sendmail-cf layer. Including any file whose path ends in m4/cf.m4
// installs the macros of Sendmail's cf/ tree as Go builtins instead of reading
// the real m4 files, and a builtin registered with m4wrap writes the cf body
// at the end of input, the way cfhead.m4 defers proto.m4.
//
// State lives in two places: flags and values that an mc may test or change
// (`_ACCESS_TABLE_`, `confLOG_LEVEL`, LOCAL_MAILER_PATH, ...) are ordinary
// macros in the engine, under the names sendmail-cf uses, so that ifdef and
// define in the mc interact with them as they do with the real files; lines
// that sendmail-cf writes into diversions (classes, LOCAL_CONFIG map
// declarations, mailers) are kept here as m4 text and are rescanned once when
// the cf is written, as the real diversions are.

// cfSuffix is how the path of the real cf.m4 ends, whatever the distribution.
const cfSuffix = "m4/cf.m4"

// finishMacro is the builtin that writes the cf body; including cf.m4
// registers it with m4wrap, as cfhead.m4 registers include(proto.m4).
const finishMacro = "__mc2cf_finish__"

type layer struct {
	e      *Engine
	stderr io.Writer
	open   func(name string) (io.ReadCloser, error)

	installed bool
	cfDir     string // what _CF_DIR_ is: the path of cf.m4 without m4/cf.m4

	classes     []string // diversion 5: C/F lines of EXPOSED_USER, LOCAL_DOMAIN, ...
	localConfig []string // diversion 6 lines written by features (the mc's own go to the engine's)
	mailers     []string // diversion 7: M lines, m4 text snapshot taken when MAILER() ran
	filters     []string // X lines of MAIL_FILTER
	queueGroups []string // Q lines of QUEUE_GROUP

	div0, pendingDiv0 string // what the features of one FEATURE call write to diversion 0
}

func newLayer(e *Engine, stderr io.Writer, open func(string) (io.ReadCloser, error)) *layer {
	if stderr == nil {
		stderr = io.Discard
	}
	return &layer{e: e, stderr: stderr, open: open}
}

// warn prints what the real macros print with errprint: the text as is,
// without a file or line prefix.
func (l *layer) warn(format string, a ...any) {
	fmt.Fprintf(l.stderr, format, a...)
}

func (l *layer) defined(name string) bool {
	_, ok := l.e.Lookup(name)
	return ok
}

// raw is the text of a macro as define stored it, or "" when it is not defined.
func (l *layer) raw(name string) string {
	v, _ := l.e.Lookup(name)
	return v
}

func (l *layer) defIfNot(name, text string) {
	if !l.defined(name) {
		l.e.Define(name, text)
	}
}

// flat expands text the simple way m4 would for the plain values sendmail-cf
// computes with (mailer flags, paths): a quoted string loses one level of
// quotes, a word that names a user macro not followed by "(" is replaced by
// its text, expanded again. It is used where Go must look at a value to
// decide something; the cf text itself is expanded by the engine.
func (l *layer) flat(s string) string {
	budget := flatBudget
	return l.flatDepth(s, 0, &budget)
}

// flatBudget bounds the work of one flat call: a macro whose text names
// itself twice would otherwise take exponential time.
const flatBudget = 1 << 16

func (l *layer) flatDepth(s string, depth int, budget *int) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if *budget--; *budget < 0 {
			break
		}
		c := s[i]
		switch {
		case c == '`':
			n, j := 1, i+1
			for ; j < len(s) && n > 0; j++ {
				switch s[j] {
				case '`':
					n++
				case '\'':
					n--
				}
			}
			if n == 0 {
				b.WriteString(s[i+1 : j-1])
			} else {
				b.WriteString(s[i+1:])
			}
			i = j
		case cfWordStart(c):
			j := i
			for j < len(s) && cfWordChar(s[j]) {
				j++
			}
			w := s[i:j]
			if v, ok := l.e.Lookup(w); ok && depth < 32 && (j >= len(s) || s[j] != '(') {
				b.WriteString(l.flatDepth(v, depth+1, budget))
			} else {
				b.WriteString(w)
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func cfWordStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func cfWordChar(c byte) bool {
	return cfWordStart(c) || (c >= '0' && c <= '9')
}

// quote returns text that m4 reads back as s, unexpanded.
func quote(s string) string {
	if strings.ContainsAny(s, "`'") {
		// A balanced string survives one level of quotes; an unbalanced one
		// is left to be rescanned, which is what sendmail-cf does with it too.
		if balanced(s) {
			return "`" + s + "'"
		}
		return s
	}
	return "`" + s + "'"
}

func balanced(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '`':
			n++
		case '\'':
			n--
			if n < 0 {
				return false
			}
		}
	}
	return n == 0
}

// isCfPath reports whether an include names sendmail-cf's cf.m4.
func isCfPath(name string) bool {
	return strings.HasSuffix(path.Clean("/"+name), "/"+cfSuffix)
}

// cfHeader is what including cf.m4 puts into the output: our header comment,
// then the quiet state cf.m4 leaves behind (comments off, diversion -1).
const cfHeader = `divert(0)dnl
#
# This sendmail.cf was made by mc2cf (mailsuite) from a sendmail.mc, without
# GNU m4 or sendmail-cf. Its V, D, C, F, K, O, M, P, T, H, E, X and Q lines are
# the ones m4 and sendmail-cf 8.17 produce for the same mc. Rulesets (S and R
# lines) are omitted because sendmaild does not execute them.
#
divert(-1)changecom()m4wrap(` + "`" + finishMacro + "'" + `)
`

// install defines what cf.m4 and cfhead.m4 define: the defaults and the
// user-visible macros.
func (l *layer) install(cfPath string) {
	l.installed = true
	l.cfDir = strings.TrimSuffix(cfPath, cfSuffix)
	if !l.defined("_CF_DIR_") {
		l.e.Define("_CF_DIR_", l.cfDir)
	}
	l.e.Undefine("format")
	l.e.Undefine("hpux")
	for _, d := range cfheadDefaults {
		l.e.Define(d[0], d[1])
	}
	if !l.defined("MAIL_SETTINGS_DIR") {
		l.e.Define("MAIL_SETTINGS_DIR", "/etc/mail/")
	}
	l.e.Define("CF_LEVEL", "10")
	l.e.Define("_DPO_", "")
	l.e.Define("_CPO_", "")
	l.e.Define("_MAIL_FILTERS_", "")
	l.e.Define("_MAIL_FILTERS_DEF", "")
	l.e.Define("_QUEUE_GROUP_", "")

	b := func(name string, fn Builtin) { l.e.SetBuiltin(name, fn) }
	b("OSTYPE", l.ostype)
	b("DOMAIN", l.domain)
	b("FEATURE", l.feature)
	b(div0Macro, l.writeDiv0)
	b("HACK", l.hack)
	b("MAILER", l.mailer)
	b("VERSIONID", func(_ *Engine, a []string) (string, error) {
		return "`#####  " + arg(a, 1) + "  #####'", nil
	})
	b("MODIFY_MAILER_FLAGS", func(_ *Engine, a []string) (string, error) {
		l.modifyMailerFlags(arg(a, 1), arg(a, 2))
		return "", nil
	})
	b("DAEMON_OPTIONS", func(_ *Engine, a []string) (string, error) {
		l.e.Define("_DPO_", l.raw("_DPO_")+"\nO DaemonPortOptions="+arg(a, 1))
		return "", nil
	})
	b("CLIENT_OPTIONS", func(_ *Engine, a []string) (string, error) {
		l.e.Define("_CPO_", l.raw("_CPO_")+"\nO ClientPortOptions="+arg(a, 1))
		return "", nil
	})
	b("MAIL_FILTER", func(_ *Engine, a []string) (string, error) {
		l.mailFilter(arg(a, 1), arg(a, 2))
		return "", nil
	})
	b("INPUT_MAIL_FILTER", func(_ *Engine, a []string) (string, error) {
		l.mailFilter(arg(a, 1), arg(a, 2))
		if cur := l.raw("confINPUT_MAIL_FILTERS"); cur == "" {
			l.e.Define("confINPUT_MAIL_FILTERS", arg(a, 1))
		} else {
			l.e.Define("confINPUT_MAIL_FILTERS", cur+", "+arg(a, 1))
		}
		return "", nil
	})
	b("QUEUE_GROUP", func(_ *Engine, a []string) (string, error) {
		l.queueGroups = append(l.queueGroups, "Q`'"+arg(a, 1)+", "+arg(a, 2))
		return "", nil
	})
	for _, c := range classMacros {
		c := c
		b(c.name, func(_ *Engine, a []string) (string, error) {
			l.classes = append(l.classes, c.prefix+arg(a, 1))
			if c.virt {
				l.e.Define("_VIRTHOSTS_", "")
			}
			if c.auth {
				l.defIfNot("_USE_AUTH_", "1")
			}
			return "", nil
		})
	}
	b("MASQUERADE_AS", func(_ *Engine, a []string) (string, error) {
		l.e.Define("MASQUERADE_NAME", arg(a, 1))
		return "", nil
	})
	// The diversions sendmail-cf's section macros switch to.
	for name, n := range sectionDiversions {
		n := n
		b(name, func(_ *Engine, _ []string) (string, error) {
			return fmt.Sprintf("divert(%d)", n), nil
		})
	}
	for _, name := range []string{"LOCAL_RULE_1", "LOCAL_RULE_2", "LOCAL_RULESETS"} {
		b(name, func(_ *Engine, _ []string) (string, error) { return "divert(9)", nil })
	}
	b("LOCAL_NET_CONFIG", func(_ *Engine, _ []string) (string, error) {
		l.e.Define("_LOCAL_RULES_", "1")
		return "divert(1)", nil
	})
	for _, n := range []string{"LOCAL_SRV_FEATURES", "LOCAL_CLT_FEATURES", "LOCAL_TRY_TLS", "LOCAL_TLS_RCPT", "LOCAL_TLS_CLIENT", "LOCAL_TLS_SERVER"} {
		n := n
		b(n, func(_ *Engine, _ []string) (string, error) {
			l.e.Define("_"+n+"_", "")
			if !l.defined("_MAILER_DEFINED_") {
				l.warn("*** WARNING: MAILER() should be before %s\n", n)
			}
			return "divert(9)", nil
		})
	}
	// Helpers of cfhead.m4 that mc, DOMAIN and HACK files use.
	b("_DEFIFNOT", func(_ *Engine, a []string) (string, error) {
		l.defIfNot(arg(a, 1), arg(a, 2))
		return "", nil
	})
	b("lower", func(_ *Engine, a []string) (string, error) { return quote(asciiLower(arg(a, 1))), nil })
	b("strcasecmp", func(_ *Engine, a []string) (string, error) {
		if asciiLower(arg(a, 1)) == asciiLower(arg(a, 2)) {
			return "1", nil
		}
		return "0", nil
	})
	b("_OPTINS", func(_ *Engine, a []string) (string, error) {
		if !l.defined(arg(a, 1)) {
			return "", nil
		}
		return arg(a, 2) + arg(a, 1) + arg(a, 3), nil
	})
	b("PUSHDIVERT", func(_ *Engine, a []string) (string, error) {
		return "pushdef(`__D__', divnum)divert(" + arg(a, 1) + ")", nil
	})
	b("POPDIVERT", func(_ *Engine, _ []string) (string, error) {
		return "divert(__D__)popdef(`__D__')", nil
	})
	b("CONCAT", func(_ *Engine, a []string) (string, error) {
		return strings.Join(a[min(1, len(a)):min(8, len(a))], ""), nil
	})
	b("DOL", func(_ *Engine, a []string) (string, error) { return "$" + arg(a, 1), nil })
	b("UUCPSMTP", func(_ *Engine, a []string) (string, error) {
		return "R$* < @ " + arg(a, 1) + " .UUCP > $*\t$1 < @ " + arg(a, 2) + " > $2", nil
	})
	b("SITECONFIG", func(_ *Engine, a []string) (string, error) {
		// SITECONFIG(file, host, class): the UUCP site tables of old. The
		// table itself is site data read from the sendmail-cf tree; its
		// SITE() lines add the sites to the class.
		class, host := arg(a, 3), arg(a, 2)
		out := "D" + class + host + "\n"
		if class == "U" {
			out += "C{w}" + host + " " + host + ".UUCP\n"
		}
		l.e.Define("_CLASS_"+class+"_", "")
		b("SITE", func(_ *Engine, s []string) (string, error) {
			if arg(s, 2)+class == "SU" {
				return "CY" + arg(s, 1), nil
			}
			return "C" + class + arg(s, 1), nil
		})
		return out + "sinclude(" + l.cfDir + "siteconfig/" + arg(a, 1) + ".m4)", nil
	})
}

func (l *layer) mailFilter(name, spec string) {
	l.filters = append(l.filters, "X`'"+name+", "+spec)
	l.e.Define("_MAIL_FILTERS_DEF", l.raw("_MAIL_FILTERS_DEF")+"X")
}

// classMacros are the mc macros that add one C or F line to diversion 5.
var classMacros = []struct {
	name, prefix string
	virt, auth   bool
}{
	{name: "EXPOSED_USER", prefix: "C{E}"},
	{name: "EXPOSED_USER_FILE", prefix: "F{E}"},
	{name: "LOCAL_USER", prefix: "C{L}"},
	{name: "LOCAL_USER_FILE", prefix: "F{L}"},
	{name: "MASQUERADE_DOMAIN", prefix: "C{M}"},
	{name: "MASQUERADE_EXCEPTION", prefix: "C{N}"},
	{name: "MASQUERADE_DOMAIN_FILE", prefix: "F{M}"},
	{name: "MASQUERADE_EXCEPTION_FILE", prefix: "F{N}"},
	{name: "LOCAL_DOMAIN", prefix: "C{w}"},
	{name: "CANONIFY_DOMAIN", prefix: "C{Canonify}"},
	{name: "CANONIFY_DOMAIN_FILE", prefix: "F{Canonify}"},
	{name: "GENERICS_DOMAIN", prefix: "C{G}"},
	{name: "GENERICS_DOMAIN_FILE", prefix: "F{G}"},
	{name: "LDAPROUTE_DOMAIN", prefix: "C{LDAPRoute}"},
	{name: "LDAPROUTE_DOMAIN_FILE", prefix: "F{LDAPRoute}"},
	{name: "LDAPROUTE_EQUIVALENT", prefix: "C{LDAPRouteEquiv}"},
	{name: "LDAPROUTE_EQUIVALENT_FILE", prefix: "F{LDAPRouteEquiv}"},
	{name: "VIRTUSER_DOMAIN", prefix: "C{VirtHost}", virt: true},
	{name: "VIRTUSER_DOMAIN_FILE", prefix: "F{VirtHost}", virt: true},
	{name: "RELAY_DOMAIN", prefix: "C{R}"},
	{name: "RELAY_DOMAIN_FILE", prefix: "F{R}"},
	{name: "TRUST_AUTH_MECH", prefix: "C{TrustAuthMech}", auth: true},
}

// sectionDiversions are the macros that only switch the output to the
// diversion a part of the cf is collected in.
var sectionDiversions = map[string]int{
	"LOCAL_RULE_0":       3,
	"LOCAL_UUCP":         4,
	"LOCAL_RULE_3":       2,
	"LOCAL_CONFIG":       6,
	"MAILER_DEFINITIONS": 7,
	"LOCAL_DNSBL":        8,
}

// cfheadDefaults are the values cfhead.m4 gives its macros before the mc
// is read; the mc may test, redefine or undefine any of them.
var cfheadDefaults = [][2]string{
	{"DATABASE_MAP_TYPE", "hash"},
	{"ALIAS_FILE", "MAIL_SETTINGS_DIR`'aliases"},
	{"confMAILER_NAME", "`MAILER-DAEMON'"},
	{"confFROM_LINE", "From $g $d"},
	{"confOPERATORS", ".:%@!^/[]+"},
	{"confSMTP_LOGIN_MSG", "$j Sendmail $v/$Z; $b"},
	{"_REC_AUTH_", "$.$?{auth_type}(authenticated"},
	{"_REC_FULL_AUTH_", "$.$?{auth_type}(user=${auth_authen} $?{auth_author}author=${auth_author} $.mech=${auth_type}"},
	{"_REC_HDR_", "$?sfrom $s $.$?_($?s$|from $.$_)"},
	{"_REC_END_", "for $u; $|;\n\t$.$b"},
	{"_REC_TLS_", "(version=${tls_version} cipher=${cipher} bits=${cipher_bits} verify=${verify})$.$?u"},
	{"_REC_BY_", "$.by $j ($v/$Z)$?r with $r$. id $i$?{tls_version}"},
	{"confRECEIVED_HEADER", "_REC_HDR_\n\t_REC_AUTH_$?{auth_ssf} bits=${auth_ssf}$.)\n\t_REC_BY_\n\t_REC_TLS_\n\t_REC_END_"},
	{"confSEVEN_BIT_INPUT", "False"},
	{"confALIAS_WAIT", "10"},
	{"confMIN_FREE_BLOCKS", "100"},
	{"confBLANK_SUB", "."},
	{"confCON_EXPENSIVE", "False"},
	{"confDELIVERY_MODE", "background"},
	{"confTEMP_FILE_MODE", "0600"},
	{"confMCI_CACHE_SIZE", "2"},
	{"confMCI_CACHE_TIMEOUT", "5m"},
	{"confUSE_ERRORS_TO", "False"},
	{"confLOG_LEVEL", "9"},
	{"confCHECK_ALIASES", "False"},
	{"confOLD_STYLE_HEADERS", "True"},
	{"confPRIVACY_FLAGS", "authwarnings"},
	{"confSAFE_QUEUE", "True"},
	{"confTO_QUEUERETURN", "5d"},
	{"confTO_QUEUEWARN", "4h"},
	{"confTIME_ZONE", "USE_SYSTEM"},
	{"confCW_FILE", "MAIL_SETTINGS_DIR`'local-host-names"},
	{"confMIME_FORMAT_ERRORS", "True"},
	{"confFORWARD_PATH", "$z/.forward.$w:$z/.forward"},
	{"confCR_FILE", "-o MAIL_SETTINGS_DIR`'relay-domains"},
	{"confMILTER_MACROS_CONNECT", "`j, _, {daemon_name}, {if_name}, {if_addr}'"},
	{"confMILTER_MACROS_HELO", "`{tls_version}, {cipher}, {cipher_bits}, {cert_subject}, {cert_issuer}'"},
	{"confMILTER_MACROS_ENVFROM", "`i, {auth_type}, {auth_authen}, {auth_ssf}, {auth_author}, {mail_mailer}, {mail_host}, {mail_addr}'"},
	{"confMILTER_MACROS_ENVRCPT", "`{rcpt_mailer}, {rcpt_host}, {rcpt_addr}'"},
	{"confMILTER_MACROS_EOM", "{msg_id}"},
}

// arg returns a[i], or "" when the call had fewer arguments.
func arg(a []string, i int) string {
	if i < len(a) {
		return a[i]
	}
	return ""
}

// included runs a real file from a sendmail-cf tree that is not built in
// (a DOMAIN or HACK of the site's own): the builtin expands to an include.
func (l *layer) included(kind, name string) (string, error) {
	p := l.cfDir + kind + "/" + name + ".m4"
	rc, err := l.open(p)
	if err != nil {
		return "", fmt.Errorf("cannot open `%s': No such file or directory", p)
	}
	rc.Close()
	return "pushdef(`__mc2cf_D__', divnum)divert(-1)include(" + quote(p) + ")divert(__mc2cf_D__)popdef(`__mc2cf_D__')", nil
}

// asciiLower is m4's translit to lower case: ASCII letters only.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
