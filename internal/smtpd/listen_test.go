// SPDX-License-Identifier: MIT

package smtpd

import (
	"net"
	"strings"
	"testing"

	"mailsuite/pkg/cf"
)

func TestListen(t *testing.T) {
	parse := func(lines ...string) *cf.Config {
		c, err := cf.Parse(strings.NewReader(strings.Join(lines, "\n")+"\n"), "l.cf", cf.Options{NoClassFiles: true, NoUserLookup: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("inet and optional", func(t *testing.T) {
		c := parse("O DaemonPortOptions=Port=0,Addr=127.0.0.24, Name=MTA",
			"O DaemonPortOptions=Port=0,Addr=192.0.2.1, Name=Gone, M=O")
		lns, opts, err := Listen(c)
		if err != nil {
			t.Fatal(err)
		}
		defer closeAll(lns)
		if len(lns) != 1 || opts[0].Name != "MTA" {
			t.Fatalf("listeners %v, options %+v", lns, opts)
		}
		if ip := lns[0].Addr().(*net.TCPAddr).IP.String(); ip != "127.0.0.24" {
			t.Errorf("listening on %s", ip)
		}
	})
	t.Run("required address missing", func(t *testing.T) {
		c := parse("O DaemonPortOptions=Port=0,Addr=192.0.2.1, Name=MTA")
		if lns, _, err := Listen(c); err == nil {
			closeAll(lns)
			t.Fatal("listening on an address this host does not have")
		} else if !strings.Contains(err.Error(), "daemon MTA") {
			t.Errorf("error %q does not name the daemon", err)
		}
	})
	t.Run("inet6", func(t *testing.T) {
		c := parse("O DaemonPortOptions=Port=0,Addr=::1, Family=inet6, Name=MTA-v6")
		lns, _, err := Listen(c)
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		defer closeAll(lns)
		if lns[0].Addr().Network() != "tcp" || !lns[0].Addr().(*net.TCPAddr).IP.Equal(net.IPv6loopback) {
			t.Errorf("listening on %v", lns[0].Addr())
		}
	})
}
