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
test: build fmt-check vet
	MAILSUITE_BIN=$(CURDIR)/bin $(GO) test -race -count=1 -timeout 60m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...

install: build
	install -d $(DESTDIR)$(SBINDIR)
	for c in $(CMDS); do install -m 0755 bin/$$c $(DESTDIR)$(SBINDIR)/$$c; done

demo:
	@echo "make demo arrives with the end-to-end issue (#8): sendmaild and dovecotd are not written yet." >&2
	@exit 1

clean:
	rm -rf bin
