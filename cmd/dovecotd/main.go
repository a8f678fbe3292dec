// SPDX-License-Identifier: MIT

// Command dovecotd is mailsuite's replacement for Dovecot 2.3. With -n or
// -a it prints the configuration like doveconf (-n the settings that differ
// from Dovecot's defaults, -a all of them); without them it reads the
// configuration and serves IMAP on the imap-login listeners and POP3 on
// the pop3-login ones in the foreground until SIGTERM or SIGINT. -c names
// the configuration file.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"mailsuite/pkg/doveconf"
)

// exitFatal is the status Dovecot's i_fatal() exits with.
const exitFatal = 89

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && args[0] == workerFlag {
		return workerMain(stderr)
	}
	fs := flag.NewFlagSet("dovecotd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "/etc/dovecot/dovecot.conf", "configuration file")
	changed := fs.Bool("n", false, "print the settings that differ from the defaults")
	all := fs.Bool("a", false, "print all settings")
	fs.Bool("F", true, "stay in the foreground (dovecotd always does)")
	if err := fs.Parse(args); err != nil {
		return 64
	}
	if !*changed && !*all {
		return serve(*path, stderr)
	}
	// doveconf prints its header before parsing, so it is there even
	// when the configuration turns out to be broken.
	fmt.Fprintf(stdout, "# mailsuite dovecotd, doveconf 2.3.19.1 compatible: %s\n", *path)
	cfg, err := doveconf.Load(*path, doveconf.Options{})
	if cfg == nil {
		return fatal(stderr, err)
	}
	for _, m := range cfg.Messages {
		fmt.Fprintf(stderr, "doveconf: %s\n", m)
	}
	if *all && !*changed {
		fmt.Fprintln(stdout, "# NOTE: Send dovecotd -n output instead when asking for help.")
	}
	if werr := cfg.Dump(stdout, !*changed); werr != nil {
		fmt.Fprintf(stderr, "dovecotd: write: %v\n", werr)
		return 1
	}
	if err != nil {
		for _, e := range cfg.CheckErrors {
			fmt.Fprintf(stderr, "doveconf: Error: %s\n", e)
		}
		return fatal(stderr, err)
	}
	return 0
}

func fatal(stderr io.Writer, err error) int {
	var ce *doveconf.Error
	if errors.As(err, &ce) {
		for _, m := range ce.Messages {
			fmt.Fprintf(stderr, "doveconf: %s\n", m)
		}
		fmt.Fprintf(stderr, "doveconf: Fatal: %s\n", ce)
	} else {
		fmt.Fprintf(stderr, "doveconf: Fatal: %v\n", err)
	}
	return exitFatal
}
