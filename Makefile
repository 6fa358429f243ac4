# SPDX-License-Identifier: ISC
# npsocketd - build, test, install.
#
#   make                      build npsocketd, npcat and the unit tests
#   make test                 install missing Debian packages (as root), build, run t/ with prove
#   make run                  install what building and running need, build, start npsocketd
#                             on etc/npsocketd.ini
#   make install              PREFIX=/usr/local DESTDIR=
#   make SANITIZE=address     build with ASan + UBSan (or SANITIZE=thread)
#   make fuzz                 libFuzzer (clang) on fuzz/*_fuzz.c, FUZZ_TIME=60 s each, FUZZ_JOBS=2 at once
#   make CC=clang             any C11 compiler

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(LIBDIR)/systemd/system
DESTDIR    ?=

CC       ?= cc
PKGS     := gnutls zlib libconfig inih libsystemd libcap-ng libcurl jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS   ?= -O2 -g
override CFLAGS += -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wno-format-nonliteral -fno-strict-aliasing
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Isrc $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lpthread -lm

ifeq ($(SANITIZE),address)
override CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
override LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SANITIZE),fuzzer)
override CFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
override LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SANITIZE),thread)
override CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
override LDFLAGS += -fsanitize=thread
endif

B := build

# Every src/*.c except the programs' mains goes into one static library
# that the programs and the unit tests link.
PROGRAM_SRCS := src/npsocketd.c src/npcat.c src/npsocketctl.c
LIB_SRCS     := $(filter-out $(PROGRAM_SRCS),$(wildcard src/*.c))
LIB_OBJS     := $(LIB_SRCS:src/%.c=$(B)/%.o)
UNIT_SRCS    := $(wildcard t/unit/*_test.c)
UNIT_BINS    := $(UNIT_SRCS:t/unit/%.c=$(B)/t/%)
# Faults the end-to-end tests preload into the daemon, and modules they
# load into it (t/lib/*.c).
TEST_SHIMS   := $(patsubst t/lib/%.c,$(B)/t/%.so,$(wildcard t/lib/*.c))
PROGRAMS     := $(B)/npsocketd $(B)/npcat $(B)/npsocketctl
FUZZ_TARGETS := $(patsubst fuzz/%_fuzz.c,%,$(wildcard fuzz/*_fuzz.c))
FUZZ_REPLAYS := $(FUZZ_TARGETS:%=$(B)/fuzz/%-replay)
MODULE_SRCS  := $(wildcard modules/*.c)
MODULES      := $(MODULE_SRCS:modules/%.c=$(B)/modules/%.so)

# The Debian packages building and running need (make run)...
DEB_PACKAGES := build-essential pkg-config libgnutls28-dev zlib1g-dev libconfig-dev \
                libinih-dev libsystemd-dev libcap-ng-dev libcurl4-gnutls-dev libjansson-dev openssl
# ...and those the test suite needs besides (make test, CI): the real
# clients and peers the tests run.
TEST_PACKAGES := gnutls-bin perl mandoc man-db procps sslscan valgrind default-jdk-headless \
                 libio-socket-ssl-perl curl python3-websockets node-ws chromium libnss3-tools haproxy systemd pebble

.PHONY: all test run bench fuzz install uninstall clean deps deps-test lint-man FORCE

all: $(PROGRAMS) $(UNIT_BINS) $(TEST_SHIMS) $(MODULES) $(B)/npbench $(FUZZ_REPLAYS)

$(B) $(B)/t $(B)/modules $(B)/fuzz:
	mkdir -p $@

# The compiler and flags the tree was built with: a build with other ones
# (CC=clang, SANITIZE=..., CFLAGS=...) rebuilds everything instead of
# linking objects of two kinds together.
BUILD_FLAGS := $(subst ','\'',$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS))
$(B)/.flags: FORCE | $(B)
	@printf '%s\n' '$(BUILD_FLAGS)' | cmp -s - $@ || printf '%s\n' '$(BUILD_FLAGS)' > $@
FORCE:

$(B)/%.o: src/%.c $(wildcard src/*.h include/npsocket/*.h) $(B)/.flags | $(B)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/libnp.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# The daemon links every object (not the archive) and exports its
# symbols, so session-handler modules find the np_session / np_comm API.
$(B)/npsocketd: $(B)/npsocketd.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS) -ldl

# The load generator (bench/): its own client, GnuTLS directly, over the
# daemon's TLS transport (read-ahead, batched writes).
$(B)/npbench: bench/npbench.c $(B)/libnp.a $(B)/.flags | $(B)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libnp.a $(LDLIBS)

# Session-handler modules: position independent, resolved against the
# daemon at dlopen() time.
$(B)/modules/%.so: modules/%.c include/npsocket/handler.h include/npsocket/comm.h include/npsocket/socket.h $(B)/.flags | $(B)/modules
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -shared $(LDFLAGS) -o $@ $<

$(B)/npcat: $(B)/npcat.o $(B)/libnp.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/npsocketctl: $(B)/npsocketctl.o $(B)/libnp.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Never instrumented: a sanitizer's runtime is preloaded before them.
$(B)/t/%.so: t/lib/%.c $(wildcard include/npsocket/*.h) | $(B)/t
	$(CC) $(CPPFLAGS) -O2 -fPIC -shared -o $@ $< -ldl

$(B)/t/%: t/unit/%.c t/unit/tap.h $(B)/libnp.a $(B)/.flags | $(B)/t
	$(CC) $(CPPFLAGS) -It/unit $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libnp.a $(LDLIBS)

# Fuzz targets (fuzz/): each one's corpus replayed by t/009-fuzz-replay.t
# with any compiler; `make fuzz` runs them under libFuzzer (clang) with
# ASan + UBSan for FUZZ_TIME seconds each, new inputs in $(FB)/corpus/.
$(B)/fuzz/%-replay: fuzz/%_fuzz.c fuzz/replay.c fuzz/fuzz.h $(B)/libnp.a $(B)/.flags | $(B)/fuzz
	$(CC) $(CPPFLAGS) -Ifuzz $(CFLAGS) $(LDFLAGS) -o $@ $< fuzz/replay.c $(B)/libnp.a $(LDLIBS)

$(B)/fuzz/%-fuzzer: fuzz/%_fuzz.c fuzz/fuzz.h $(B)/libnp.a $(B)/.flags | $(B)/fuzz
	$(CC) $(CPPFLAGS) -Ifuzz $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(B)/libnp.a $(LDLIBS)

FUZZ_TIME ?= 60
FUZZ_JOBS ?= 2
FB := build-fuzz
# Each target for FUZZ_TIME seconds from its corpus, FUZZ_JOBS at a time;
# a crash stops it with the input in $(FB)/ and the target's log in
# $(FB)/TARGET.log.  What it finds new stays in $(FB)/corpus (merge the
# smallest into fuzz/corpus by hand).
fuzz:
	$(MAKE) deps DEB_EXTRA=clang
	$(MAKE) B=$(FB) CC=clang SANITIZE=fuzzer $(FUZZ_TARGETS:%=$(FB)/fuzz/%-fuzzer)
	@printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(FUZZ_JOBS) -I{} sh -c '\
	  mkdir -p $(FB)/corpus/{} && \
	  LSAN_OPTIONS=suppressions=fuzz/lsan.supp $(FB)/fuzz/{}-fuzzer -max_total_time=$(FUZZ_TIME) -max_len=65536 \
	    -timeout=10 -print_final_stats=1 -artifact_prefix=$(FB)/{}- $(FB)/corpus/{} fuzz/corpus/{} \
	    > $(FB)/{}.log 2>&1; rc=$$?; \
	  echo "== fuzz {}: $$(grep -a "stat::number_of_executed_units" $(FB)/{}.log | sed "s/.*: *//") runs in $(FUZZ_TIME) s, exit $$rc"; \
	  [ $$rc -eq 0 ] || { tail -40 $(FB)/{}.log; exit 255; }'

# Installs the Debian packages that are missing (and DEB_EXTRA): as root
# through apt-get, with one apt-get update; otherwise it prints the command.
deps:
	@missing=""; for p in $(DEB_PACKAGES) $(DEB_EXTRA); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
	  echo "missing Debian packages; run as root:"; \
	  echo "  apt-get install -y$$missing"; exit 1; \
	fi

# Everything make test needs, in one apt-get run.
deps-test:
	$(MAKE) deps DEB_EXTRA="$(TEST_PACKAGES) $(DEB_EXTRA)"

test: deps-test
	$(MAKE) all
	prove -j2 --timer t/

# A self-signed ECDSA P-256 certificate for the example TLS port.
$(B)/run/server.pem:
	mkdir -p $(B)/run
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
	  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	  -keyout $(B)/run/server.key -out $(B)/run/server.pem 2>/dev/null

run: deps
	$(MAKE) all $(B)/run/server.pem
	@echo
	@echo "npsocketd on etc/npsocketd.ini; in another terminal:"
	@echo "  $(B)/npcat -v 127.0.0.1 9000 hello"
	@echo "  $(B)/npcat -v --tls --ca $(B)/run/server.pem --sni localhost 127.0.0.1 9443 hello"
	@echo "  $(B)/npcat -v --ws /netphantom 127.0.0.1 9000 hello"
	@echo "  or a browser at http://127.0.0.1:9000/ (the page in etc/www)"
	@echo
	$(B)/npsocketd -c etc/npsocketd.ini

# The benchmarks' own packages (bench/web puts nginx beside npsocketd;
# bench/haproxy needs haproxy, a test package).
BENCH_PACKAGES := wrk nginx-light haproxy

bench: all
	$(MAKE) deps DEB_EXTRA="$(BENCH_PACKAGES)"
	bench/run
	bench/web
	bench/haproxy

lint-man:
	@for m in man/*.[0-9]; do mandoc -Tlint -Wwarning $$m || exit 1; done

# For module authors: pkg-config --cflags npsocket.
define NPSOCKET_PC
prefix=$(PREFIX)
includedir=$(INCLUDEDIR)
moduledir=$(LIBDIR)/npsocketd

Name: npsocket
Description: npsocketd's session-handler module API (npsocket/handler.h)
Version: $(VERSION)
Requires: zlib
Cflags: -I$${includedir}
endef
export NPSOCKET_PC
VERSION := $(shell sed -n 's/^\#define NPSOCKETD_VERSION "\(.*\)"/\1/p' src/npsocketd.c)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/npsocketd \
	  $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)/npsocketd/www \
	  $(DESTDIR)$(INCLUDEDIR)/npsocket $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/npsocketd
	install -m 0755 $(B)/npsocketd $(DESTDIR)$(SBINDIR)/npsocketd
	install -m 0755 $(B)/npsocketctl $(DESTDIR)$(SBINDIR)/npsocketctl
	install -m 0755 $(B)/npcat $(DESTDIR)$(BINDIR)/npcat
	install -m 0755 $(MODULES) $(DESTDIR)$(LIBDIR)/npsocketd/
	install -m 0644 include/npsocket/*.h $(DESTDIR)$(INCLUDEDIR)/npsocket/
	printf '%s\n' "$$NPSOCKET_PC" > $(DESTDIR)$(LIBDIR)/pkgconfig/npsocket.pc
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' etc/npsocketd.service.in \
	  > $(DESTDIR)$(UNITDIR)/npsocketd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/npsocketd.service
	install -m 0644 man/npcat.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/npsocket_handler.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 0644 man/npsocketd.ini.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/npsocketd.8 man/npsocketctl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 etc/www/* $(DESTDIR)$(DATADIR)/npsocketd/www/
	# The example with the installed paths: the page where it went, the
	# certificate where the operator puts one.
	sed -e 's|^webRoot = etc/www$$|webRoot = $(DATADIR)/npsocketd/www|' \
	    -e 's|^certFile = build/run/server.pem$$|certFile = $(SYSCONFDIR)/npsocketd/server.pem|' \
	    -e 's|^keyFile = build/run/server.key$$|keyFile = $(SYSCONFDIR)/npsocketd/server.key|' \
	    etc/npsocketd.ini > $(DESTDIR)$(SYSCONFDIR)/npsocketd/npsocketd.ini.example
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/npsocketd/npsocketd.ini.example

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/npsocketd $(DESTDIR)$(SBINDIR)/npsocketctl $(DESTDIR)$(BINDIR)/npcat \
	  $(DESTDIR)$(MANDIR)/man1/npcat.1 $(DESTDIR)$(MANDIR)/man5/npsocketd.ini.5 \
	  $(DESTDIR)$(MANDIR)/man8/npsocketd.8 $(DESTDIR)$(MANDIR)/man8/npsocketctl.8 \
	  $(DESTDIR)$(MANDIR)/man3/npsocket_handler.3 \
	  $(MODULES:$(B)/modules/%=$(DESTDIR)$(LIBDIR)/npsocketd/%) \
	  $(DESTDIR)$(SYSCONFDIR)/npsocketd/npsocketd.ini.example \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/npsocket.pc $(DESTDIR)$(UNITDIR)/npsocketd.service \
	  $(patsubst etc/www/%,$(DESTDIR)$(DATADIR)/npsocketd/www/%,$(wildcard etc/www/*)) \
	  $(patsubst include/%,$(DESTDIR)$(INCLUDEDIR)/%,$(wildcard include/npsocket/*.h))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/npsocket $(DESTDIR)$(LIBDIR)/npsocketd $(DESTDIR)$(SYSCONFDIR)/npsocketd \
	  $(DESTDIR)$(DATADIR)/npsocketd/www $(DESTDIR)$(DATADIR)/npsocketd 2>/dev/null

clean:
	rm -rf $(B) $(FB)
