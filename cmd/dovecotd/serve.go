// SPDX-License-Identifier: MIT

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"mailsuite/internal/dovecotauth"
	"mailsuite/internal/imapd"
	"mailsuite/internal/maillog"
	"mailsuite/internal/pop3d"
	"mailsuite/pkg/doveconf"
	"mailsuite/pkg/mbox"
)

// serve runs the IMAP and POP3 listeners of the configuration until
// SIGTERM or SIGINT.
func serve(path string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serveCtx(ctx, path, stderr, nil)
}

// serveCtx runs until ctx is done; ready, when set, gets the listening
// addresses once they are bound.
func serveCtx(ctx context.Context, path string, stderr io.Writer, ready func([]net.Addr)) int {
	cfg, err := doveconf.Load(path, doveconf.Options{})
	if err != nil {
		return fatal(stderr, err)
	}
	set := cfg.Settings(doveconf.Match{Protocol: "imap"})
	icfg, err := imapConfig(cfg, set)
	if err != nil {
		fmt.Fprintf(stderr, "Fatal: %v\n", err)
		return exitFatal
	}
	// Started as root, dovecotd gives every logged-in session to a mail
	// worker running as the user (internal/privsep); otherwise it
	// serves the sessions itself, with its own identity.
	var sep *separator
	pop3Handoff := pop3d.HandoffFunc(nil)
	if os.Geteuid() == 0 {
		pcfg, _ := pop3d.FromSettings(cfg, netip.Addr{}, netip.Addr{})
		errOut, _ := stderr.(*os.File)
		sep, err = newSeparator(set, gidRange(cfg), icfg, pcfg, logIdent(set), set.LogPath, errOut)
		if err != nil {
			fmt.Fprintf(stderr, "Fatal: %v\n", err)
			return exitFatal
		}
		icfg.Handoff = sep.imap
		pop3Handoff = sep.pop3
	}
	srv := imapd.New(icfg)
	var lns []net.Listener
	var tlsFlags []bool
	if set.HasProtocol("imap") {
		for _, name := range []string{"imap", "imaps"} {
			l, ok := set.Listener("imap-login", name)
			if !ok || l.Port == 0 {
				continue
			}
			if l.SSL && icfg.TLS == nil {
				continue
			}
			for _, a := range l.Addresses {
				ln, err := net.Listen("tcp", listenAddr(a, l.Port))
				if err != nil {
					fmt.Fprintf(stderr, "Fatal: service(imap-login): listen(%s, %d) failed: %v\n", a, l.Port, err)
					return exitFatal
				}
				lns = append(lns, ln)
				tlsFlags = append(tlsFlags, l.SSL)
			}
		}
	}
	if icfg.Log != nil {
		icfg.Log.DovecotStarting("2.3.19.1 (9b53102964)", set.Protocols)
	}
	var wg sync.WaitGroup
	for i, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln, tlsFlags[i]); err != nil && !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(stderr, "Error: %v\n", err)
			}
		}()
	}
	// POP3 opens its own pop3-login listeners (internal/pop3d).
	pop3Done := make(chan error, 1)
	go func() { pop3Done <- pop3d.ServeConfigHandoff(ctx, cfg, icfg.Log, pop3Handoff, icfg.Penalties) }()
	// SIGHUP reopens log_path (after logrotate), as Dovecot does.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				if icfg.Log != nil {
					icfg.Log.Reopen()
				}
				if sep != nil {
					if err := sep.reopenLog(); err != nil {
						fmt.Fprintf(stderr, "Error: %v\n", err)
					}
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	if ready != nil {
		addrs := make([]net.Addr, len(lns))
		for i, ln := range lns {
			addrs[i] = ln.Addr()
		}
		ready(addrs)
	}
	code := 0
	select {
	case <-ctx.Done():
		<-pop3Done
	case err := <-pop3Done:
		if err != nil {
			fmt.Fprintf(stderr, "Fatal: %v\n", err)
			code = exitFatal
		} else {
			<-ctx.Done()
		}
	}
	srv.Close()
	wg.Wait()
	if sep != nil {
		sep.close()
	}
	return code
}

func listenAddr(a string, port int) string {
	switch a {
	case "*":
		a = "0.0.0.0"
	case "::":
		a = "::"
	}
	return net.JoinHostPort(strings.Trim(a, "[]"), strconv.Itoa(port))
}

// imapConfig maps the typed settings onto imapd.Config.
func imapConfig(cfg *doveconf.Config, set *doveconf.Settings) (imapd.Config, error) {
	c := imapd.Config{
		Greeting:             set.LoginGreeting,
		DisablePlaintextAuth: set.DisablePlaintextAuth,
		SSL:                  set.SSL,
		AuthFailureDelay:     set.AuthFailureDelay,
		Mechanisms:           set.AuthMechanisms,
		IdleNotify:           set.IMAPIdleNotifyInterval,
		FirstValidUID:        set.FirstValidUID,
		LastValidUID:         set.LastValidUID,
		MailLocation:         set.MailLocation,
		Lock:                 mbox.LockOptions{Timeout: set.MboxLockTimeout, DotlockChangeTimeout: set.MboxDotlockChangeTimeout},
	}
	for _, n := range set.LoginTrustedNetworks {
		if p, err := netip.ParsePrefix(n); err == nil {
			c.TrustedNetworks = append(c.TrustedNetworks, p)
		} else if a, err := netip.ParseAddr(n); err == nil {
			c.TrustedNetworks = append(c.TrustedNetworks, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	for _, ns := range set.Namespaces {
		if ns.Inbox {
			c.Mailboxes = ns.Mailboxes
		}
	}
	if set.SSL != "no" && set.SSLCert != "" && set.SSLKey != "" {
		cert, err := cfg.ReadValue(set.SSLCert)
		if err != nil {
			return c, err
		}
		key, err := cfg.ReadValue(set.SSLKey)
		if err != nil {
			return c, err
		}
		pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
		if err != nil {
			return c, fmt.Errorf("ssl_cert/ssl_key: %w", err)
		}
		c.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	}
	if c.TLS == nil {
		c.SSL = "no"
	}
	c.Auth = dovecotauth.FromPassdbs(set.Passdbs)
	// Dovecot's anvil: one failed-login table for IMAP and POP3.
	c.Penalties = dovecotauth.NewPenalties()
	dest := set.LogPath
	if dest == "" {
		dest = "syslog"
	}
	lg, err := maillog.Open(dest, maillog.Options{Ident: logIdent(set), NoPID: true})
	if err != nil {
		return c, err
	}
	c.Log = lg
	return c, nil
}

// logIdent is the syslog ident: instance_name, "dovecot" by default.
func logIdent(set *doveconf.Settings) string {
	if set.InstanceName != "" && set.InstanceName != "dovecot" {
		return set.InstanceName
	}
	return "dovecot"
}

// gidRange is first_valid_gid and last_valid_gid (Dovecot's defaults 1
// and 0: root's group is never a mail process's).
func gidRange(cfg *doveconf.Config) dovecotauth.GIDRange {
	var r dovecotauth.GIDRange
	m := doveconf.Match{Protocol: "imap"}
	if v, ok := cfg.Value(m, "first_valid_gid"); ok {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			r.First = uint32(n)
		}
	}
	if v, ok := cfg.Value(m, "last_valid_gid"); ok {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			r.Last = uint32(n)
		}
	}
	return r
}
