# lua-midjourney build. Every variable can be overridden on the command line:
#   make                      build midjourney/core.so for Lua 5.4
#   make LUA=luajit           build it for LuaJIT (Neovim, LÖVE)
#   make check                the unit specs only (seconds; needs Lua, libcurl and busted)
#   make test                 build for Lua 5.4 and LuaJIT, run every spec on both
#   make install PREFIX=/usr/local [DESTDIR=...] [LUA=luajit]
#                             the library, plus bin/mj and bin/mj-simulator for Lua 5.4
#                             (bin/mj-luajit and bin/mj-simulator-luajit with LUA=luajit)
#   make doc                  the LDoc HTML reference into build/doc/ (doc/ is the Neovim help)
#   make demo                 imagine -> wait -> U1 -> wait -> download against the local simulator
#   make IMAGE=no             skip midjourney/image_core.so (built by default when libspng,
#                             libjpeg and libwebp are found by pkg-config; IMAGE=yes insists)

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
# The installed commands are named mj and mj-simulator for Lua 5.4 and get the interpreter as a
# suffix for any other one (mj-luajit, mj-simulator-luajit), so the two builds share a PREFIX.
ifeq ($(LUA),lua5.4)
  BIN_SUFFIX ?=
else
  BIN_SUFFIX ?= -$(notdir $(LUA))
endif
# LDoc's output (config.ld says the same); doc/ holds the Neovim help file.
DOC_DIR      ?= build/doc
# midjourney.image_core: a separate C module, so the core keeps depending on libcurl alone.
IMAGE        ?= auto
IMAGE_PKGS   ?= spng libjpeg libwebp
IMAGE_DEBS   ?= libspng-dev libjpeg-dev libwebp-dev
IMAGE_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags $(IMAGE_PKGS) 2>/dev/null)
IMAGE_LIBS   ?= $(shell $(PKG_CONFIG) --libs $(IMAGE_PKGS) 2>/dev/null || echo -lspng -ljpeg -lwebp)
ifeq ($(IMAGE),auto)
  IMAGE_FOUND := $(shell $(PKG_CONFIG) --exists $(IMAGE_PKGS) 2>/dev/null && echo yes)
else
  IMAGE_FOUND := $(filter yes,$(IMAGE))
endif

SRC     := $(wildcard src/*.c)
HDR     := $(wildcard src/*.h)
CORE_SO := $(BUILD_DIR)/midjourney/core.so
LUA_SRC := $(shell find lua/midjourney -name '*.lua' 2>/dev/null | sort)
IMAGE_SRC := $(wildcard src/image/*.c)
IMAGE_HDR := $(wildcard src/image/*.h) src/compat.h
IMAGE_SO  := $(BUILD_DIR)/midjourney/image_core.so

.PHONY: all image image-note deps check test test-fast lint doc demo bench install uninstall clean fuzz valgrind sanitize screenshots

ifeq ($(IMAGE_FOUND),yes)
all: $(CORE_SO) $(IMAGE_SO)
image: $(IMAGE_SO)
else
all: $(CORE_SO) image-note
image: image-note
endif

$(CORE_SO): $(SRC) $(HDR) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARNFLAGS) -fPIC -fvisibility=hidden $(LUA_CFLAGS) $(CURL_CFLAGS) \
	  $(LIBFLAG) -o $@ $(SRC) $(CURL_LIBS)

$(IMAGE_SO): $(IMAGE_SRC) $(IMAGE_HDR) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARNFLAGS) -fPIC -fvisibility=hidden $(LUA_CFLAGS) $(IMAGE_CFLAGS) \
	  $(LIBFLAG) -o $@ $(IMAGE_SRC) $(IMAGE_LIBS) -lm

image-note:
ifeq ($(IMAGE),no)
	@echo "note: midjourney.image_core not built (IMAGE=no); require \"midjourney.image\" will fail." >&2
else
	@echo "note: midjourney.image_core not built: pkg-config did not find $(IMAGE_PKGS)." \
	  "The rest builds without it; require \"midjourney.image\" will fail until you install" \
	  "$(IMAGE_DEBS) (Debian/Ubuntu) and run make again." >&2
endif

deps:
	@sh scripts/deps.sh test

# The unit specs (spec/unit: a fake core, no simulator, no host programs), both interpreters, in seconds.
check:
	@sh scripts/deps.sh check
	@$(MAKE) --no-print-directory LUA=lua5.4 all
	@$(MAKE) --no-print-directory LUA=luajit all
	@sh scripts/test.sh spec/unit

test:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory LUA=lua5.4 all
	@$(MAKE) --no-print-directory LUA=luajit all
	@sh scripts/test.sh

lint:
	@sh scripts/deps.sh lint
	@sh scripts/lint.sh

# LDoc copies README.md into topics/README.md.html as it is: its pictures (docs/img/*.png)
# are copied beside it so that their relative paths resolve (spec/reference_spec.lua checks).
doc:
	@sh scripts/deps.sh doc
	ldoc --fatalwarnings -d $(DOC_DIR) .
	@mkdir -p $(DOC_DIR)/topics/docs/img
	cp docs/img/*.png $(DOC_DIR)/topics/docs/img/
	@echo "make doc: $(DOC_DIR)/index.html"

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

# The installed mj and mj-simulator find this PREFIX's modules with no LUA_PATH/LUA_CPATH set:
# a line after the #! puts share/lua/VER and lib/lua/VER (as they will be after DESTDIR staging)
# first on package.path and package.cpath.
install: all
	install -d $(DESTDIR)$(LUA_LIBDIR)/midjourney $(DESTDIR)$(LUA_SHAREDIR) $(DESTDIR)$(BINDIR)
	install -m 755 $(CORE_SO) $(DESTDIR)$(LUA_LIBDIR)/midjourney/core.so
	if [ -f $(IMAGE_SO) ]; then install -m 755 $(IMAGE_SO) $(DESTDIR)$(LUA_LIBDIR)/midjourney/image_core.so; fi
	cd lua && find midjourney -name '*.lua' -exec install -D -m 644 {} $(DESTDIR)$(LUA_SHAREDIR)/{} \;
	for b in mj mj-simulator; do \
	  { echo '#!/usr/bin/env $(LUA)'; \
	    echo 'package.path = [==[$(LUA_SHAREDIR)/?.lua;$(LUA_SHAREDIR)/?/init.lua;]==] .. package.path'; \
	    echo 'package.cpath = [==[$(LUA_LIBDIR)/?.so;]==] .. package.cpath'; \
	    sed 1d bin/$$b; } > $(DESTDIR)$(BINDIR)/$$b$(BIN_SUFFIX); \
	  chmod 755 $(DESTDIR)$(BINDIR)/$$b$(BIN_SUFFIX); done

uninstall:
	rm -f $(DESTDIR)$(LUA_LIBDIR)/midjourney/core.so $(DESTDIR)$(LUA_LIBDIR)/midjourney/image_core.so
	rm -f $(DESTDIR)$(BINDIR)/mj$(BIN_SUFFIX) $(DESTDIR)$(BINDIR)/mj-simulator$(BIN_SUFFIX)
	rm -rf $(DESTDIR)$(LUA_SHAREDIR)/midjourney
	-rmdir $(DESTDIR)$(LUA_LIBDIR)/midjourney 2>/dev/null

clean:
	rm -rf build
