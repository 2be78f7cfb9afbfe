#!/bin/sh
# Runs every spec under Lua 5.4 and LuaJIT and ends with one line "N passed, M failed".
# Usage: sh scripts/test.sh [busted args...]   e.g. sh scripts/test.sh spec/engine_spec.lua
# MJ_TEST_LUAS="lua5.4" limits the interpreters; BUSTED names the busted script (default: the
# one on PATH). Each interpreter finds busted's modules on its own default path (the ";;").
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
luas=${MJ_TEST_LUAS:-"lua5.4 luajit"}
busted=${BUSTED:-$(command -v busted)}
if [ -z "$busted" ]; then echo "scripts/test.sh: busted is not installed (sh scripts/deps.sh check)"; echo "0 passed, 1 failed"; exit 1; fi
total_pass=0; total_fail=0; status=0
for lua in $luas; do
  case $lua in luajit) ver=5.1 ;; *) ver=${lua#lua} ;; esac
  extra=""
  # specs tagged #once drive whole programs (Neovim, LÖVE, the CLI): run them once, under Lua 5.4
  [ "$lua" != "lua5.4" ] && extra="--exclude-tags=once"
  [ -n "$MJ_EXCLUDE_TAGS" ] && extra="--exclude-tags=$MJ_EXCLUDE_TAGS"
  log=$(mktemp)
  echo "== busted under $lua"
  {
    LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;$root/?.lua;;" \
    LUA_CPATH="$root/${MJ_BUILD_DIR:-build/$lua}/?.so;;" \
    MJ_TEST_LUA="$lua" \
      timeout 1200 $MJ_TEST_WRAPPER "$lua" "$busted" --lua="$lua" -o utfTerminal $extra "$@" 2>&1
    echo $? > "$log.rc"
  } | tee "$log"
  rc=$(cat "$log.rc" 2>/dev/null || echo 1)
  line=$(grep -aE '[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$log" | tail -1)
  if [ -z "$line" ]; then
    echo "busted under $lua printed no summary (crash or timeout)"; total_fail=$((total_fail + 1)); status=1
  else
    p=$(echo "$line" | grep -oE '[0-9]+ success' | grep -oE '[0-9]+')
    f=$(echo "$line" | grep -oE '[0-9]+ failure' | grep -oE '[0-9]+')
    e=$(echo "$line" | grep -oE '[0-9]+ error' | grep -oE '[0-9]+')
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f + e))
    [ $((f + e)) -gt 0 ] && status=1
    if [ "$rc" != 0 ] && [ $((f + e)) -eq 0 ]; then
      # busted itself passed everything, yet the process failed (a sanitizer or valgrind report)
      echo "busted under $lua exited with status $rc after its specs passed"
      total_fail=$((total_fail + 1)); status=1
    fi
  fi
  rm -f "$log" "$log.rc"
done
echo "$total_pass passed, $total_fail failed"
exit $status
