// SPDX-License-Identifier: MIT

package makemap

import (
	"bufio"
	"io"
	"os/user"
	"strconv"
	"strings"
)

// cfInfo is what makemap takes from sendmail.cf.
type cfInfo struct {
	// trustedUID is the TrustedUser's uid; 0 means none.
	trustedUID uint32
	// classes maps a K line's file argument to its map class, first line
	// first.
	classes map[string]string
}

// readCF reads the TrustedUser option (the last one wins) and the K lines
// of a sendmail.cf. warn gets "TrustedUser: unknown user X".
func readCF(r io.Reader, warn func(string)) cfInfo {
	info := cfInfo{classes: make(map[string]string)}
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		line = strings.TrimSuffix(line, "\n")
		if i := strings.IndexByte(line, 0); i >= 0 {
			line = line[:i]
		}
		switch {
		case strings.HasPrefix(line, "O"):
			b := line[1:]
			if len(b) >= 12 && strings.EqualFold(b[:12], " TrustedUser") && (len(b) == 12 || !isAlnum(b[12])) {
				eq := strings.IndexByte(b, '=')
				if eq < 0 {
					break
				}
				v := b[eq+1:]
				for v != "" && isSpace(v[0]) {
					v = v[1:]
				}
				if v != "" && '0' <= v[0] && v[0] <= '9' {
					info.trustedUID = atoiUID(v)
				} else {
					info.trustedUID = 0
					u, err := user.Lookup(v)
					if err != nil {
						warn("TrustedUser: unknown user " + v + "\n")
					} else if n, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
						info.trustedUID = uint32(n)
					}
				}
			}
		case strings.HasPrefix(line, "K"):
			f := strings.FieldsFunc(line, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
			if len(f) >= 3 {
				file := f[len(f)-1]
				if _, seen := info.classes[file]; !seen {
					info.classes[file] = f[1]
				}
			}
		}
		if err != nil {
			break
		}
	}
	return info
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// atoiUID is C's atoi as makemap uses it for a numeric TrustedUser: the
// leading digits as a long (saturating), truncated to int, then to uid_t.
func atoiUID(s string) uint32 {
	var n uint64
	const longMax = 1<<63 - 1
	for i := 0; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		d := uint64(s[i] - '0')
		if n > (longMax-d)/10 {
			n = longMax
			break
		}
		n = n*10 + d
	}
	return uint32(n)
}
