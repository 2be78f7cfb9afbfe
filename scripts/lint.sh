#!/bin/sh
# `make lint`: every check runs, each failure prints one "lint: FAIL: ..." line (with the tool's
# own output above it), and the script exits 1 if anything failed.
#   luacheck      lua/ bin/ spec/ examples/ plugin/ scripts/*.lua (.luacheckrc: std min, no globals)
#   clang-format  --dry-run --Werror on src/*.c src/*.h src/image/*.[ch] fuzz/fuzz_image.c (.clang-format)
#   cppcheck      src/ with --error-exitcode=1
#   rockspecs     module/bin lists match the tree (scripts/gen-rockspec-modules.lua --check, also
#                 rockspecs/image/),
#                 `luarocks lint` on every rockspec
#   shell         `sh -n` on scripts/*.sh (and shellcheck when installed and MJ_SHELLCHECK=1)
# Tools: CLANG_FORMAT, CPPCHECK, LUACHECK, LUAROCKS override the commands.
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
LUACHECK=${LUACHECK:-luacheck}
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
CPPCHECK=${CPPCHECK:-cppcheck}
LUAROCKS=${LUAROCKS:-luarocks}
fails=0

fail() { fails=$((fails + 1)); echo "lint: FAIL: $*"; }
pass() { echo "lint: ok: $*"; }
have() { command -v "$1" > /dev/null 2>&1; }

# --- luacheck ---------------------------------------------------------------------------------
if have "$LUACHECK"; then
  set --
  for d in lua spec examples plugin; do [ -d "$d" ] && set -- "$@" "$d"; done
  for f in bin/* scripts/*.lua; do [ -f "$f" ] && set -- "$@" "$f"; done
  if "$LUACHECK" --no-color -q --formatter=plain "$@" .luacheckrc; then
    pass "luacheck ($# paths)"
  else
    fail "luacheck: warnings above (file:line:col), configuration in .luacheckrc"
  fi
else
  fail "luacheck is not installed (sh scripts/deps.sh lint)"
fi

# --- clang-format ------------------------------------------------------------------------------
if have "$CLANG_FORMAT"; then
  bad=""
  for f in src/*.c src/*.h src/image/*.c src/image/*.h fuzz/fuzz_image.c; do
    [ -f "$f" ] || continue
    if ! "$CLANG_FORMAT" --dry-run --Werror "$f" > /dev/null 2>&1; then
      n=$("$CLANG_FORMAT" "$f" | diff "$f" - | grep -c '^<')
      fail "clang-format: $f differs from .clang-format in $n lines (fix: $CLANG_FORMAT -i $f)"
      bad="$bad $f"
    fi
  done
  [ -z "$bad" ] && pass "clang-format ($("$CLANG_FORMAT" --version | grep -Eo '[0-9]+\.[0-9.]+' | head -n 1))"
else
  fail "clang-format is not installed (sh scripts/deps.sh lint)"
fi

# --- cppcheck ------------------------------------------------------------------------------------
if have "$CPPCHECK"; then
  log=$(mktemp)
  if "$CPPCHECK" --quiet --error-exitcode=1 --enable=warning,portability,performance \
       --inline-suppr --std=c11 -D__GNUC__ -I src src > "$log" 2>&1; then
    pass "cppcheck src/"
  else
    cat "$log"
    fail "cppcheck: findings above in src/"
  fi
  rm -f "$log"
else
  fail "cppcheck is not installed (sh scripts/deps.sh lint)"
fi

# --- rockspecs ----------------------------------------------------------------------------------
lua=$(command -v lua5.4 || command -v lua || command -v luajit)
if [ -n "$lua" ] && "$lua" scripts/gen-rockspec-modules.lua --check; then
  pass "rockspec module/bin lists match lua/, src/*.c and bin/"
else
  fail "rockspecs: module/bin lists are stale (fix: lua5.4 scripts/gen-rockspec-modules.lua)"
fi
if have "$LUAROCKS"; then
  for spec in *.rockspec rockspecs/*.rockspec rockspecs/image/*.rockspec; do
    [ -f "$spec" ] || continue
    if out=$("$LUAROCKS" lint "$spec" 2>&1); then
      pass "luarocks lint $spec"
    else
      echo "$out"
      fail "luarocks lint $spec"
    fi
  done
else
  fail "luarocks is not installed (sh scripts/deps.sh lint)"
fi

# --- shell scripts ---------------------------------------------------------------------------------
for f in scripts/*.sh bench/*.sh fuzz/*.sh .ci/run; do
  [ -f "$f" ] || continue
  sh -n "$f" || fail "sh -n $f: syntax error"
  if [ "${MJ_SHELLCHECK:-0}" = 1 ] && have shellcheck; then
    shellcheck -S warning "$f" || fail "shellcheck $f"
  fi
done

if [ "$fails" -gt 0 ]; then
  echo "lint: $fails check(s) failed"
  exit 1
fi
echo "lint: all checks passed"
