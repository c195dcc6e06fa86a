# ringlb — one non-recursive GNU Makefile. `make help` lists the targets.
#
# Variants: BUILD selects the output folder, SAN the sanitizer (asan|tsan).
# `make asan` and `make tsan` re-enter this file with both set.

BUILD ?= build
SAN   ?=
CC    ?= gcc
V     ?= 0

PKGS := liburing numa liburcu-qsbr liburcu-cds yaml-0.1 libxxhash libcares libsystemd

# wolfSSL is ours, not Debian's binary package (built for compatibility, no
# assembly: see the README's TLS section): Debian 12's source package with
# Debian's patches, pinned, built static with the options below by
# tools/build-wolfssl.sh into build/wolfssl/, whatever BUILD is, so
# build/asan and build/tsan link the same library and never rebuild it.
# A change of version, options or flags changes the stamp: a rebuild.
WOLFSSL_DEB    := 5.5.4-2+deb12u3
WOLFSSL_DIR    := build/wolfssl
WOLFSSL_CFLAGS := -O2 -g -DWOLFSSL_GETRANDOM -DMEDIUM_SESSION_CACHE -DCUSTOM_RAND_GENERATE_BLOCK=tls__rand_block
WOLFSSL_OPTS   := --enable-static --disable-shared --disable-examples --disable-crypttests \
	--enable-tls13 --disable-oldtls --enable-sni --enable-alpn --enable-session-ticket \
	--enable-aesni --enable-intelasm --enable-sp=yes --enable-sp-asm --enable-sp-math-all \
	--enable-curve25519 --enable-ed25519 --enable-chacha --enable-poly1305 --enable-harden \
	--disable-aescbc --disable-dh --disable-sys-ca-certs --enable-aesgcm=word32 \
	--disable-hashdrbg
WOLFSSL_KEY    := $(shell echo '$(WOLFSSL_DEB) $(WOLFSSL_OPTS) $(WOLFSSL_CFLAGS)' | md5sum | cut -c1-12)
WOLFSSL_STAMP  := $(WOLFSSL_DIR)/stamp-$(WOLFSSL_KEY)
WOLFSSL_LIB    := $(WOLFSSL_DIR)/lib/libwolfssl.a

CFLAGS_PKG := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS_PKG   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT      ?= -O2
CFLAGS   := -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	    -Wmissing-prototypes -Wstrict-prototypes -fno-strict-aliasing \
	    -D_GNU_SOURCE -I. -isystem $(WOLFSSL_DIR)/include $(CFLAGS_PKG) -MMD -MP $(EXTRA_CFLAGS)
# tls/x25519.c: wolfSSL's X25519 key generation, by the fixed-base multiplication.
LDFLAGS  := $(EXTRA_LDFLAGS) -Wl,--wrap=wc_curve25519_make_key
LDLIBS   := $(WOLFSSL_LIB) $(LIBS_PKG) -lpthread -lm

# The ASan build carries the fault injection hooks (core/base/fault.h), inert
# unless RINGLB_FAULT is set: `make fault` runs their suite there.
ifeq ($(SAN),asan)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -DRINGLB_DEBUG \
	   -DRINGLB_FAULT
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SAN),tsan)
CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer -DRINGLB_DEBUG
LDFLAGS += -fsanitize=thread
endif
ifeq ($(DEBUG),1)
CFLAGS  += -DRINGLB_DEBUG
endif

ifeq ($(V),0)
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
else
Q :=
say :=
endif

LIB_SRCS  := $(filter-out core/main.c,$(sort $(wildcard core/*.c core/*/*.c numa/*.c config/*.c tls/*.c)))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ  := $(BUILD)/core/main.o
LIB       := $(BUILD)/libringlb.a
BIN       := $(BUILD)/ringlb
UNIT_SRCS := $(sort $(wildcard test/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:test/unit/%.c=$(BUILD)/test/%)
TOOL_SRCS := $(sort $(wildcard test/tools/*.c))
TOOL_BINS := $(TOOL_SRCS:test/tools/%.c=$(BUILD)/test/tools/%)
# Operator and measurement tools written in C, linked with the library.
CTOOL_SRCS := $(sort $(wildcard tools/*.c))
CTOOL_BINS := $(CTOOL_SRCS:tools/%.c=$(BUILD)/tools/%)
# tools/check-layers: the rules file, and LAYERS=warn to let `make test` go on
# after a violation (it fails by default).
LAYERS_CONF ?= tools/layers.conf
LAYERS      ?= fail

# make install: PREFIX and DESTDIR as usual; the config goes to SYSCONFDIR
# (/etc) whatever PREFIX is, and an existing one is kept. CONFIG_USER and
# CONFIG_GROUP replace the example's user:/group: (the package says ringlb).
PREFIX       ?= /usr/local
SBINDIR      ?= $(PREFIX)/sbin
BINDIR       ?= $(PREFIX)/bin
MANDIR       ?= $(PREFIX)/share/man
DOCDIR       ?= $(PREFIX)/share/doc/ringlb
UNITDIR      ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR   ?= /etc
DESTDIR      ?=
CONFIG_USER  ?= nobody
CONFIG_GROUP ?= nogroup
VERSION      := $(shell sed -n 's/^\#define CLI_VERSION "ringlb \(.*\)"$$/\1/p' config/cli.c)
# ringlb(8), from `ringlb --help` and config/KEYS.md (tools/mkman.py).
MAN          := $(BUILD)/ringlb.8

.PHONY: all run test unit asan tsan debug deps format format-check clean distclean help bench \
	numa-check wolfssl check-layers fuzz fuzz-build install uninstall man deb test-deb fault
all: $(BIN) $(UNIT_BINS) $(TOOL_BINS) $(CTOOL_BINS) $(MAN)

# Its own make shares our jobserver (the + line).
wolfssl: $(WOLFSSL_STAMP)
$(WOLFSSL_STAMP):
	+$(Q)tools/build-wolfssl.sh $(WOLFSSL_DIR) \
		$(WOLFSSL_DEB) $@ CFLAGS='$(WOLFSSL_CFLAGS)' $(WOLFSSL_OPTS)
$(WOLFSSL_LIB): $(WOLFSSL_STAMP)
# Whatever includes wolfSSL's headers is rebuilt with it: the headers come
# with -isystem, which -MMD leaves out of the .d files, and tls/wolf.c
# depends on wolfSSL's struct layout.
WOLFSSL_USERS := $(filter $(BUILD)/tls/%,$(LIB_OBJS)) \
	$(patsubst test/unit/%.c,$(BUILD)/test/unit/%.o,$(filter test/unit/test_tls%,$(UNIT_SRCS))) \
	$(patsubst tools/%.c,$(BUILD)/tools/%.o,$(filter tools/tls%,$(CTOOL_SRCS)))
$(WOLFSSL_USERS): $(WOLFSSL_STAMP)

$(BUILD)/%.o: %.c
	$(call say,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIB) $(WOLFSSL_LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A unit test may #include the .c it tests to reach its statics; it links
# against the archive, which then never pulls in that object.
$(BUILD)/test/%: $(BUILD)/test/unit/%.o $(LIB) $(WOLFSSL_LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(shell pkg-config --libs check)

$(BUILD)/test/unit/%.o: test/unit/%.c
	$(call say,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(shell pkg-config --cflags check) -c -o $@ $<

$(BUILD)/tools/%: $(BUILD)/tools/%.o $(LIB) $(WOLFSSL_LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/test/tools/%: test/tools/%.c
	$(call say,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) -lpthread

# libFuzzer harnesses: test/fuzz/fuzz_NAME.c, one per input surface, built with clang
# into $(BUILD)/fuzz/fuzz_NAME. Each links itself and the sources FUZZ_LINK_NAME lists,
# all compiled with the fuzzer's instrumentation (none from libringlb.a). Seeds are in
# test/fuzz/corpus/NAME/, the dictionary in test/fuzz/NAME.dict; test/fuzz/run.sh runs one.
FUZZ_CC     ?= clang
FUZZ_DIR    := $(BUILD)/fuzz
FUZZ_SAN    := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -Wshadow \
	       -Wno-unused-parameter -Wmissing-prototypes -Wstrict-prototypes \
	       -fno-strict-aliasing -D_GNU_SOURCE -I. -isystem $(WOLFSSL_DIR)/include -MMD -MP
FUZZ_NAMES  := $(sort $(patsubst test/fuzz/fuzz_%.c,%,$(wildcard test/fuzz/fuzz_*.c)))
FUZZ_BINS   := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
# The h1 harnesses #include core/parse/h1.c themselves; the config ones link config/.
FUZZ_CONFIG := config/config.c config/env.c config/print.c config/schema.c config/value.c \
	       config/yaml.c config/pem.c config/logfmt.c
FUZZ_LINK_config := $(FUZZ_CONFIG)
FUZZ_LIBS_config := $(shell pkg-config --libs yaml-0.1 2>/dev/null)
FUZZ_LINK_values := $(FUZZ_CONFIG)
FUZZ_LIBS_values := $(FUZZ_LIBS_config)
FUZZ_LINK_env    := $(FUZZ_CONFIG) config/builtin.c
FUZZ_LIBS_env    := $(FUZZ_LIBS_config)
FUZZ_LINK_admin  := core/admin/req.c core/parse/h1.c
# fuzz_tls defines tls__rand_block() itself (a fixed stream) instead of tls/rand.c.
# It links core/base/log.c (x25519.c warns through it) and wraps X25519 keygen as ringlb does.
FUZZ_LINK_tls    := $(filter-out tls/rand.c,$(sort $(wildcard tls/*.c))) core/base/log.c
FUZZ_LIBS_tls    := $(WOLFSSL_LIB) -lpthread -lm -Wl,--wrap=wc_curve25519_make_key
FUZZ ?=
SECS ?= 60

$(FUZZ_DIR)/obj/%.o: %.c
	$(call say,FUZZCC,$@)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
		-fno-sanitize-recover=all -c -o $@ $<

define FUZZ_RULE
$(FUZZ_DIR)/fuzz_$(1): $(FUZZ_DIR)/obj/test/fuzz/fuzz_$(1).o $(FUZZ_LINK_$(1):%.c=$(FUZZ_DIR)/obj/%.o)
	$$(call say,LD,$$@)
	$$(Q)$$(FUZZ_CC) $$(FUZZ_SAN) -o $$@ $$^ $$(FUZZ_LIBS_$(1))
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call FUZZ_RULE,$(n))))
$(FUZZ_DIR)/obj/test/fuzz/fuzz_tls.o $(FUZZ_LINK_tls:%.c=$(FUZZ_DIR)/obj/%.o): $(WOLFSSL_STAMP)

fuzz-build: $(FUZZ_BINS)

# make fuzz [FUZZ=name] [SECS=n]: each harness (or the one named, with or
# without its fuzz_ prefix) for SECS seconds, one after the other.
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@set -e; for n in $(or $(FUZZ:fuzz_%=%),$(FUZZ_NAMES)); do \
		test/fuzz/run.sh $(BUILD) $$n $(SECS); done

man: $(MAN)
$(MAN): $(BIN) config/KEYS.md tools/mkman.py
	$(call say,MAN,$@)
	$(Q)python3 tools/mkman.py $(BIN) config/KEYS.md $@

# ringlbctl is a script in tools/ or a C tool built into $(BUILD)/tools/,
# whichever exists.
CTL := $(firstword $(wildcard $(BUILD)/tools/ringlbctl tools/ringlbctl))
install: $(BIN) $(MAN)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/ringlb
	install -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/ringlb
	$(if $(CTL),install -d $(DESTDIR)$(BINDIR) && install -m 0755 $(CTL) $(DESTDIR)$(BINDIR)/ringlbctl)
	install -m 0644 $(MAN) $(DESTDIR)$(MANDIR)/man8/ringlb.8
	sed 's|@SBINDIR@|$(SBINDIR)|g; s|/etc/ringlb/|$(SYSCONFDIR)/ringlb/|g' \
		tools/systemd/ringlb.service.in >$(DESTDIR)$(UNITDIR)/ringlb.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/ringlb.service
	install -m 0644 README.md config/KEYS.md $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(SYSCONFDIR)/ringlb/errors
	install -m 0644 config/examples/errors/*.html $(DESTDIR)$(SYSCONFDIR)/ringlb/errors/
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/ringlb/ringlb.yaml ]; then \
		echo "install: $(DESTDIR)$(SYSCONFDIR)/ringlb/ringlb.yaml exists, kept"; \
	else \
		sed -e 's/^user: nobody /user: $(CONFIG_USER) /' -e 's/^group: nogroup /group: $(CONFIG_GROUP) /' \
			-e 's|: config/examples/errors/|: $(SYSCONFDIR)/ringlb/errors/|' \
			config/examples/ringlb.yaml >$(DESTDIR)$(SYSCONFDIR)/ringlb/ringlb.yaml.tmp && \
		chmod 0644 $(DESTDIR)$(SYSCONFDIR)/ringlb/ringlb.yaml.tmp && \
		mv $(DESTDIR)$(SYSCONFDIR)/ringlb/ringlb.yaml.tmp $(DESTDIR)$(SYSCONFDIR)/ringlb/ringlb.yaml && \
		echo "install: $(DESTDIR)$(SYSCONFDIR)/ringlb/ringlb.yaml"; \
	fi

# Leaves $(SYSCONFDIR)/ringlb/ (the config and error pages may have been edited).
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/ringlb $(DESTDIR)$(BINDIR)/ringlbctl \
		$(DESTDIR)$(MANDIR)/man8/ringlb.8 $(DESTDIR)$(UNITDIR)/ringlb.service \
		$(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)$(DOCDIR)/KEYS.md
	-rmdir $(DESTDIR)$(DOCDIR)

# The Debian package, with dpkg-buildpackage and debhelper, in build/deb/
# (tools/debian/mkdeb.sh: the tree and its debian/ are made there, so the
# top of the repository keeps its folders). No network: our wolfSSL is the
# one in build/wolfssl.
deb: $(WOLFSSL_STAMP)
	@tools/debian/mkdeb.sh $(VERSION)

# make deb, then dpkg -i / -r / --purge of the package (root; it says why
# it skips otherwise). Not in `make test`: it installs on this machine.
test-deb:
	@python3 test/package/test_deb.py

# Installs missing Debian packages when root, otherwise names the command.
deps:
	@tools/install-deps.sh --check 2>/dev/null || tools/install-deps.sh

run: deps
	@$(MAKE) --no-print-directory $(BIN)
	exec $(BIN) $(ARGS)

test: deps
	@$(MAKE) --no-print-directory all fuzz-build
	@$(MAKE) --no-print-directory check-layers $(if $(filter warn,$(LAYERS)),|| true)
	@test/run.sh $(BUILD) $(TESTS)

unit: all
	@RLB_ONLY_UNIT=1 test/run.sh $(BUILD)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=asan OPT=-O1 test

tsan: deps
	@$(MAKE) --no-print-directory BUILD=build/tsan SAN=tsan OPT=-O1 test

# The fault injection suite (test/integration/test_fault.py and the unit
# test of core/base/fault.c) on the ASan build, which has the hooks.
fault: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=asan OPT=-O1 test TESTS="$(or $(TESTS),test_fault)"

debug:
	@$(MAKE) --no-print-directory BUILD=build/debug DEBUG=1 OPT=-O0 all

bench: all
	tools/bench $(ARGS)

numa-check: all
	tools/numa-check.sh

# Module graph of this build's objects against tools/layers.conf: circles,
# upward and denied edges, unplaced modules. ARGS=--list, --cycles or
# "--dot FILE" say more.
check-layers: $(LIB_OBJS) $(MAIN_OBJ)
	$(call say,LAYERS,$(BUILD))
	$(Q)tools/check-layers --build $(BUILD) --rules $(LAYERS_CONF) $(ARGS)

FORMAT_SRCS = $(shell git ls-files '*.c' '*.h')
format:
	clang-format -i $(FORMAT_SRCS)
format-check:
	clang-format --dry-run --Werror $(FORMAT_SRCS)

# clean keeps the wolfSSL build (a minute to redo, the same every time);
# distclean removes it too.
clean:
	rm -rf $(filter-out $(WOLFSSL_DIR),$(wildcard build/*))
distclean:
	rm -rf build

help:
	@echo "make            build build/ringlb, unit tests and test tools"
	@echo "make run        build and start ringlb on its built-in config (ARGS=... adds flags)"
	@echo "make test       build and run every test (TESTS=name... to pick)"
	@echo "make unit       unit tests only"
	@echo "make check-layers  module circles and layer violations (run by make test; LAYERS=warn goes on)"
	@echo "make asan       the test suites under ASan+UBSan (build/asan)"
	@echo "make tsan       the test suites under TSan (build/tsan)"
	@echo "make fault      the fault injection suite on the ASan build (RINGLB_FAULT; README: Reliability)"
	@echo "make debug      -O0 build with leak tracking (build/debug)"
	@echo "make bench      tools/bench: ringlb beside HAProxy and nginx"
	@echo "make numa-check run ringlb in the two-node QEMU guest"
	@echo "make fuzz       every libFuzzer harness for SECS=60 seconds (FUZZ=name picks one:"
	@echo "                $(FUZZ_NAMES)); make test runs each for 3 s"
	@echo "make format     clang-format every source; format-check verifies"
	@echo "make wolfssl    build our wolfSSL from Debian's source (build/wolfssl, shared by variants)"
	@echo "make install    binary, ringlbctl, unit, man page, /etc/ringlb/ringlb.yaml (PREFIX, DESTDIR)"
	@echo "make deb        the Debian package in build/deb/ (dpkg-buildpackage, debhelper)"
	@echo "make test-deb   make deb, then install, run and purge it (root)"
	@echo "make clean      remove build/ but the wolfSSL build; distclean removes it too"

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
