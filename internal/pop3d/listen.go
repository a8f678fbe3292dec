// SPDX-License-Identifier: MIT

package pop3d

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"mailsuite/internal/dovecotauth"
	"mailsuite/internal/maillog"
	"mailsuite/pkg/doveconf"
)

// ServeConfig serves POP3 as conf asks: when protocols lists pop3, on
// every address of the pop3-login service's inet_listeners "pop3" (110)
// and, unless ssl = no, "pop3s" (995, implicit TLS); port 0 disables a
// listener, as in Dovecot. Users are checked by the first passdb
// (passwd-file, or the system's passwd and shadow for pam, shadow and
// passwd). It returns when ctx is done, or at once with an error when a
// listener cannot be opened.
func ServeConfig(ctx context.Context, conf *doveconf.Config, log *maillog.Logger) error {
	return ServeConfigHandoff(ctx, conf, log, nil, nil)
}

// ServeConfigHandoff is ServeConfig with every logged-in session given
// to handoff (see Config.Handoff), and anvil's table pen shared with
// IMAP (nil: POP3's own).
func ServeConfigHandoff(ctx context.Context, conf *doveconf.Config, log *maillog.Logger, handoff HandoffFunc, pen *dovecotauth.Penalties) error {
	s := conf.Settings(doveconf.Match{Protocol: "pop3"})
	if !s.HasProtocol("pop3") {
		return nil
	}
	base, err := FromSettings(conf, netip.Addr{}, netip.Addr{})
	if err != nil {
		return err
	}
	base.Auth = AuthFromSettings(s)
	base.Log = log
	base.Handoff = handoff
	if base.Penalties = pen; pen == nil {
		base.Penalties = dovecotauth.NewPenalties()
	}
	type job struct {
		ln  net.Listener
		cfg Config
	}
	var jobs []job
	closeAll := func() {
		for _, j := range jobs {
			j.ln.Close()
		}
	}
	for _, l := range pop3Listeners(s) {
		if l.Port == 0 || (l.Name == "pop3s" && s.SSL == "no") {
			continue
		}
		cfg := base
		cfg.ImplicitTLS = l.SSL || l.Name == "pop3s"
		if cfg.ImplicitTLS && cfg.TLS == nil {
			closeAll()
			return errors.New("pop3s listener: ssl_cert and ssl_key are not set")
		}
		for _, a := range l.Addresses {
			ln, err := net.Listen("tcp", listenAddr(a, l.Port))
			if err != nil {
				closeAll()
				return fmt.Errorf("pop3-login: %w", err)
			}
			jobs = append(jobs, job{ln, cfg})
		}
	}
	errs := make(chan error, len(jobs))
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- Serve(ctx, j.ln, j.cfg)
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// pop3Listeners returns the pop3-login listeners, or Dovecot's built-in
// ones (pop3 on 110, pop3s on 995) when the configuration names none.
func pop3Listeners(s *doveconf.Settings) []doveconf.Listener {
	var out []doveconf.Listener
	for _, l := range s.Listeners {
		if l.Service == "pop3-login" {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		out = []doveconf.Listener{
			{Service: "pop3-login", Name: "pop3", Addresses: s.Listen, Port: 110},
			{Service: "pop3-login", Name: "pop3s", Addresses: s.Listen, Port: 995, SSL: true},
		}
	}
	return out
}

// listenAddr turns a Dovecot listen address ("*" for every IPv4
// address, "::" for every IPv6 one) into a net.Listen address.
func listenAddr(a string, port int) string {
	switch a = strings.Trim(a, "[]"); a {
	case "*":
		a = "0.0.0.0"
	case "", "::":
		a = "::"
	}
	return net.JoinHostPort(a, strconv.Itoa(port))
}

// AuthFromSettings picks the Authenticator for the first passdb (see
// dovecotauth.FromPassdbs).
func AuthFromSettings(s *doveconf.Settings) Authenticator {
	return dovecotauth.FromPassdbs(s.Passdbs)
}
