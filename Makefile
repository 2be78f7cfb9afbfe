# lua-midjourney build. Every variable can be overridden on the command line:
#   make                      build midjourney/core.so for Lua 5.4
#   make LUA=luajit           build it for LuaJIT (Neovim, LÖVE)
#   make test                 build for Lua 5.4 and LuaJIT, run every spec on both
#   make install PREFIX=/usr/local [DESTDIR=...] [LUA=luajit]
#   make demo                 imagine -> wait -> U1 -> wait -> download against the local simulator

LUA          ?= lua5.4
ifeq ($(LUA),luajit)
  LUA_PC      ?= luajit
  LUA_VERSION ?= 5.1
else
  LUA_VERSION ?= $(patsubst lua%,%,$(LUA))
  LUA_PC      ?= lua$(LUA_VERSION)
endif
PKG_CONFIG   ?= pkg-config
LUA_CFLAGS   ?= $(shell $(PKG_CONFIG) --cflags $(LUA_PC) 2>/dev/null)
CURL_CFLAGS  ?= $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
CURL_LIBS    ?= $(shell $(PKG_CONFIG) --libs libcurl 2>/dev/null || echo -lcurl)
CC           ?= cc
CFLAGS       ?= -O2 -g
WARNFLAGS    ?= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
LIBFLAG      ?= -shared
BUILD_DIR    ?= build/$(LUA)
PREFIX       ?= /usr/local
LUA_LIBDIR   ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
LUA_SHAREDIR ?= $(PREFIX)/share/lua/$(LUA_VERSION)
BINDIR       ?= $(PREFIX)/bin

SRC     := $(wildcard src/*.c)
HDR     := $(wildcard src/*.h)
CORE_SO := $(BUILD_DIR)/midjourney/core.so
LUA_SRC := $(shell find lua/midjourney -name '*.lua' 2>/dev/null | sort)

.PHONY: all deps test test-fast lint doc demo bench install uninstall clean fuzz valgrind sanitize screenshots

all: $(CORE_SO)

$(CORE_SO): $(SRC) $(HDR) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARNFLAGS) -fPIC -fvisibility=hidden $(LUA_CFLAGS) $(CURL_CFLAGS) \
	  $(LIBFLAG) -o $@ $(SRC) $(CURL_LIBS)

deps:
	@sh scripts/deps.sh test

test:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory LUA=lua5.4 all
	@$(MAKE) --no-print-directory LUA=luajit all
	@sh scripts/test.sh

lint:
	@sh scripts/deps.sh lint
	@sh scripts/lint.sh

doc:
	@sh scripts/deps.sh doc
	ldoc --fatalwarnings .

demo:
	@sh scripts/deps.sh demo
	@$(MAKE) --no-print-directory LUA=lua5.4 all
	@sh scripts/demo.sh

bench:
	@sh scripts/deps.sh bench
	@$(MAKE) --no-print-directory LUA=lua5.4 all
	@$(MAKE) --no-print-directory LUA=luajit all
	@sh bench/run.sh

# The whole suite (Lua 5.4) against a core built with AddressSanitizer + UBSan (gcc, with
# float-cast-overflow), then, where clang and its UBSan runtime exist, the engine, scanner and JSON
# specs against a clang build with -fsanitize=integer (unsigned wraparound and lossy implicit
# conversions too; the one place where wraparound is intended is marked no_sanitize("integer")).
# Any report fails.
SAN_GCC   := address,undefined,float-cast-overflow
SAN_CLANG := integer,undefined,float-cast-overflow
sanitize:
	@sh scripts/deps.sh test
	@sh scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory LUA=lua5.4 BUILD_DIR=build/asan-lua5.4 CC=gcc \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=$(SAN_GCC) -fno-sanitize-recover=all" \
	  LIBFLAG="-shared -fsanitize=$(SAN_GCC)" all
	@MJ_TEST_LUAS=lua5.4 MJ_BUILD_DIR=build/asan-lua5.4 MJ_EXCLUDE_TAGS=once,nosanitize \
	  LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  sh scripts/test.sh
	@rt=$$(clang -print-file-name=libclang_rt.ubsan_standalone-x86_64.so 2>/dev/null); \
	if [ -f "$$rt" ]; then \
	  $(MAKE) --no-print-directory LUA=lua5.4 BUILD_DIR=build/intsan-lua5.4 CC=clang \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=$(SAN_CLANG) -fno-sanitize-recover=all" \
	    LIBFLAG="-shared -shared-libsan -fsanitize=$(SAN_CLANG)" all && \
	  MJ_TEST_LUAS=lua5.4 MJ_BUILD_DIR=build/intsan-lua5.4 MJ_EXCLUDE_TAGS=once,nosanitize \
	    LD_PRELOAD="$$rt" UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    sh scripts/test.sh spec/engine_spec.lua spec/scan_spec.lua spec/json_spec.lua; \
	else echo "sanitize: clang's UBSan runtime not found: skipping the -fsanitize=integer run"; fi

# The whole suite (Lua 5.4) under valgrind memcheck: any error or definite leak fails.
valgrind:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory LUA=lua5.4 all
	@MJ_TEST_LUAS=lua5.4 MJ_EXCLUDE_TAGS=once,nosanitize \
	  MJ_TEST_WRAPPER="valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite" \
	  sh scripts/test.sh

fuzz:
	@sh scripts/deps.sh fuzz
	@sh fuzz/run.sh

# The README's pictures: docs/img/cli.png (mj's live bars) and docs/img/love.png (the example game).
screenshots:
	@sh scripts/deps.sh screenshots
	@$(MAKE) --no-print-directory LUA=lua5.4 all
	@$(MAKE) --no-print-directory LUA=luajit all
	@sh scripts/screenshots.sh

install: $(CORE_SO)
	install -d $(DESTDIR)$(LUA_LIBDIR)/midjourney $(DESTDIR)$(LUA_SHAREDIR) $(DESTDIR)$(BINDIR)
	install -m 755 $(CORE_SO) $(DESTDIR)$(LUA_LIBDIR)/midjourney/core.so
	cd lua && find midjourney -name '*.lua' -exec install -D -m 644 {} $(DESTDIR)$(LUA_SHAREDIR)/{} \;
	for b in mj mj-simulator; do \
	  sed '1s|.*|#!/usr/bin/env $(LUA)|' bin/$$b > $(DESTDIR)$(BINDIR)/$$b; chmod 755 $(DESTDIR)$(BINDIR)/$$b; done

uninstall:
	rm -f $(DESTDIR)$(LUA_LIBDIR)/midjourney/core.so $(DESTDIR)$(BINDIR)/mj $(DESTDIR)$(BINDIR)/mj-simulator
	rm -rf $(DESTDIR)$(LUA_SHAREDIR)/midjourney
	-rmdir $(DESTDIR)$(LUA_LIBDIR)/midjourney 2>/dev/null

clean:
	rm -rf build doc
