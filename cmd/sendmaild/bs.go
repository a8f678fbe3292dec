// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"io"
	"os"

	"mailsuite/internal/deliver/remote"
	"mailsuite/internal/maillog"
	"mailsuite/internal/mta"
	"mailsuite/internal/smtpd"
)

// smtpStdio is "sendmail -bs": one SMTP session on standard input and
// output, with the daemon's replies, policy and queue. The client is
// the invoking user ("<user>@localhost" in the logs and the Received
// header); relaying is allowed as for any local submission, and only
// root may ETRN. Messages are delivered as DeliveryMode says before the
// command exits.
func smtpStdio(o *options, lg *maillog.Logger, stdin io.Reader, stdout, stderr io.Writer) int {
	// Class w asks the resolver for this host's addresses.
	res, err := remote.SystemResolver()
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		return exConfig
	}
	m, cfg, warnings, closer, err := mta.Load(o.cfPath, mta.LoadOptions{Log: lg, Resolver: res})
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		return exConfig
	}
	defer closer()
	defer m.Close()
	srv, err := smtpd.NewServer(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		return exConfig
	}
	u := invoker()
	if err := srv.ServeStdio(stdin, stdout, smtpd.StdioOptions{User: u.Name, Privileged: os.Getuid() == 0}); err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		return exOSErr
	}
	return 0
}
