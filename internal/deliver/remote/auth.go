// SPDX-License-Identifier: MIT

package remote

import (
	"encoding/base64"
	"net/netip"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// authInfo is one authinfo map entry (FEATURE(authinfo)): the quoted
// items "U:user" (authorization id), "I:authid", "P:password" (or
// "P=base64"), "M:mech list".
type authInfo struct {
	user, authid, password string
	mechs                  []string
}

// parseAuthInfo reads an authinfo value: `"U:smmsp" "P:secret"
// "M:PLAIN LOGIN"`. ok is false without a password.
func parseAuthInfo(v string) (a authInfo, ok bool) {
	for _, item := range splitQuoted(v) {
		if len(item) < 2 || (item[1] != ':' && item[1] != '=') {
			continue
		}
		val := item[2:]
		if item[1] == '=' {
			b, err := base64.StdEncoding.DecodeString(val)
			if err != nil {
				continue
			}
			val = string(b)
		}
		switch item[0] {
		case 'U':
			a.user = val
		case 'I':
			a.authid = val
		case 'P':
			a.password, ok = val, true
		case 'M':
			a.mechs = strings.Fields(strings.ToUpper(val))
		}
	}
	if a.authid == "" {
		a.authid = a.user
	}
	return a, ok && a.authid != ""
}

// splitQuoted splits `"a b" "c"` into its quoted items; an unquoted
// word counts as an item too.
func splitQuoted(v string) []string {
	var out []string
	for v = strings.TrimSpace(v); v != ""; v = strings.TrimSpace(v) {
		if v[0] == '"' {
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				out = append(out, v[1:])
				break
			}
			out = append(out, v[1:1+end])
			v = v[2+end:]
			continue
		}
		end := strings.IndexAny(v, " \t")
		if end < 0 {
			out = append(out, v)
			break
		}
		out = append(out, v[:end])
		v = v[end:]
	}
	return out
}

// authenticate logs in to a server that offers AUTH when the authinfo
// map has credentials for it, trying sendmail's keys in order:
// "AuthInfo:<host>", "AuthInfo:<address>", "AuthInfo:". It returns the
// mechanism used, or "" when it did not authenticate; a refused login
// is not an error here (sendmail goes on without AUTH and lets the
// server decide).
func (c *Courier) authenticate(cl *smtp.Client, h mxHost, a netip.Addr) string {
	if c.AuthInfo == nil {
		return ""
	}
	ok, offered := cl.Extension("AUTH")
	if !ok {
		return ""
	}
	var info authInfo
	found := false
	for _, k := range []string{"AuthInfo:" + strings.TrimSuffix(h.Name, "."), "AuthInfo:" + a.String(), "AuthInfo:"} {
		if v, hit := c.AuthInfo(k); hit {
			if info, found = parseAuthInfo(v); found {
				break
			}
		}
	}
	if !found {
		return ""
	}
	allowed := info.mechs
	if len(allowed) == 0 {
		allowed = []string{"PLAIN", "LOGIN"}
	}
	for _, mech := range allowed {
		if !hasWord(offered, mech) {
			continue
		}
		var client sasl.Client
		switch mech {
		case sasl.Plain:
			authz := info.user
			if authz == info.authid {
				authz = ""
			}
			client = sasl.NewPlainClient(authz, info.authid, info.password)
		case sasl.Login:
			client = sasl.NewLoginClient(info.authid, info.password)
		default:
			continue
		}
		if err := cl.Auth(client); err == nil {
			return mech
		}
		return ""
	}
	return ""
}

func hasWord(list, w string) bool {
	for _, f := range strings.Fields(strings.ToUpper(list)) {
		if f == w {
			return true
		}
	}
	return false
}
