// SPDX-License-Identifier: MIT

package accessdb

import (
	"net/netip"
	"strconv"
	"strings"
)

// ClientAddr returns the {client_addr} macro for ip, the form A walks and
// Connect: keys use: dotted IPv4 (IPv4-mapped IPv6 addresses too), else
// "IPv6:" and eight lowercase hex groups without leading zeros and
// without "::" (Debian's IPV6_FULL build). compressed selects the
// inet_ntop form used with UseCompressedIPv6Addresses=True.
func ClientAddr(ip netip.Addr, compressed bool) string {
	ip = ip.WithZone("")
	if ip.Is4() || ip.Is4In6() {
		return ip.Unmap().String()
	}
	if !ip.IsValid() {
		return ""
	}
	b := ip.As16()
	var g [8]uint16
	for i := range g {
		g[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	if !compressed {
		parts := make([]string, 8)
		for i, v := range g {
			parts[i] = strconv.FormatUint(uint64(v), 16)
		}
		return "IPv6:" + strings.Join(parts, ":")
	}
	return "IPv6:" + ntop6(g)
}

// ClientLiteral returns the bracketed address literal sendmail puts in
// {client_name} when the client's PTR name is missing, unconfirmed or
// timed out: "[1.2.3.4]" or "[IPv6:…]".
func ClientLiteral(ip netip.Addr, compressed bool) string {
	return "[" + ClientAddr(ip, compressed) + "]"
}

// ntop6 is glibc's inet_ntop for IPv6: the longest run of two or more
// zero groups (the first of equals) becomes "::", and ::a.b.c.d keeps the
// IPv4-compatible dotted tail.
func ntop6(g [8]uint16) string {
	best, bestLen := -1, 0
	for i := 0; i < 8; {
		if g[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && g[j] == 0 {
			j++
		}
		if j-i > bestLen {
			best, bestLen = i, j-i
		}
		i = j
	}
	if bestLen < 2 {
		best = -1
	}
	var b strings.Builder
	for i := 0; i < 8; i++ {
		if best >= 0 && i >= best && i < best+bestLen {
			if i == best {
				b.WriteByte(':')
			}
			continue
		}
		if i != 0 {
			b.WriteByte(':')
		}
		if i == 6 && best == 0 && (bestLen == 6 || (bestLen == 5 && g[5] == 0xffff)) {
			b.WriteString(strconv.Itoa(int(g[6]>>8)) + "." + strconv.Itoa(int(g[6]&0xff)) + "." +
				strconv.Itoa(int(g[7]>>8)) + "." + strconv.Itoa(int(g[7]&0xff)))
			break
		}
		b.WriteString(strconv.FormatUint(uint64(g[i]), 16))
	}
	if best >= 0 && best+bestLen == 8 {
		b.WriteByte(':')
	}
	return b.String()
}
