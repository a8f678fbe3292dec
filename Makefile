# mailsuite — build, test and install.
GO      ?= go
PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
BINDIR  ?= $(PREFIX)/bin

CMDS := $(notdir $(wildcard cmd/*))

.PHONY: all build test vet fmt-check bench install clean demo

all: build

build:
	@mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

# The README's test command. Tests that compare against the real Debian
# programs skip locally when those are missing, and fail under CI=true.
# The end-to-end runbook suite (test/runbook_test.go) writes its step table
# to bin/e2e-summary, printed at the end: go test shows a passing
# package's output only with -v. scripts/hermetic.sh keeps every test away
# from the system's DNS server (as root: a private /etc/resolv.conf).
test: build fmt-check vet
	@rm -f bin/e2e-summary
	MAILSUITE_BIN=$(CURDIR)/bin MAILSUITE_E2E_SUMMARY=$(CURDIR)/bin/e2e-summary \
		scripts/hermetic.sh $(GO) test -race -count=1 -timeout 60m ./...; \
		status=$$?; cat bin/e2e-summary 2>/dev/null; exit $$status

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...

# make install [PREFIX=/usr/local] [DESTDIR=]: binaries in $(SBINDIR), with
# sendmail and newaliases beside them and mailq in $(BINDIR) (where Debian
# has them) as links to sendmaild, plus $(LIBDIR)/sendmail (Debian's
# /usr/lib/sendmail when PREFIX=/usr); systemd units, the mail-rebuild
# helper they run, and man pages. The samples under etc/ go to $(SYSCONFDIR)
# only where nothing is there yet: a mail sample is skipped when its file or
# its compiled form (sendmail.cf, access.db, aliases.db) exists, and the
# dovecot tree as a whole when dovecot.conf exists, so an admin's
# configuration is never replaced or changed. INSTALL_BIN is where the built
# binaries are taken from.
LIBDIR      ?= $(PREFIX)/lib
LIBEXECDIR  ?= $(PREFIX)/libexec
MANDIR      ?= $(PREFIX)/share/man
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
INSTALL_BIN ?= bin
SAMPLES     := $(patsubst etc/%,%,$(sort $(shell find etc/mail etc/dovecot -type f)))

install: build
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(LIBEXECDIR)/mailsuite $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man8
	for c in $(CMDS); do install -m 0755 $(INSTALL_BIN)/$$c $(DESTDIR)$(SBINDIR)/$$c; done
	ln -sfn sendmaild $(DESTDIR)$(SBINDIR)/sendmail
	ln -sfn sendmaild $(DESTDIR)$(SBINDIR)/newaliases
	ln -sfn $(SBINDIR)/sendmaild $(DESTDIR)$(BINDIR)/mailq
	ln -sfn $(SBINDIR)/sendmaild $(DESTDIR)$(LIBDIR)/sendmail
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' etc/systemd/mail-rebuild.in > $(DESTDIR)$(LIBEXECDIR)/mailsuite/mail-rebuild
	chmod 0755 $(DESTDIR)$(LIBEXECDIR)/mailsuite/mail-rebuild
	for u in sendmaild dovecotd; do \
		sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' \
			etc/systemd/$$u.service.in > $(DESTDIR)$(UNITDIR)/$$u.service && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; \
	done
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	@etc=$(DESTDIR)$(SYSCONFDIR); \
	for f in $(SAMPLES); do \
		dst=$$etc/$$f; also=; \
		case $$f in \
		mail/sendmail.mc) also=$$etc/mail/sendmail.cf;; \
		mail/access) also=$$etc/mail/access.db;; \
		mail/aliases) also=$$etc/mail/aliases.db;; \
		dovecot/dovecot.conf) ;; \
		dovecot/*) also=$$etc/dovecot/dovecot.conf;; \
		esac; \
		if [ -e "$$dst" ] || [ -L "$$dst" ]; then \
			echo "keeping $$dst (sample not installed)"; \
		elif [ -n "$$also" ] && { [ -e "$$also" ] || [ -L "$$also" ]; }; then \
			echo "not installing $$dst: $$also exists"; \
		else \
			install -D -m 0644 etc/$$f "$$dst" && echo "installed $$dst" || exit 1; \
		fi; \
	done

# make demo: the seed scenario (a@hamap.local -> b@hamap.local) on loopback,
# state in .demo/ (reset on every run), Ctrl-C stops it; DEMO_CHECK=1 sends
# a -> b, reads it back over IMAP and POP3 and exits. See scripts/demo.sh.
demo: build
	@DEMO_BIN=$(CURDIR)/bin sh scripts/demo.sh

clean:
	rm -rf bin
