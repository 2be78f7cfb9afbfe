#!/bin/sh
# Installs lua-midjourney the ways a user does, each into a throwaway tree, then loads it from
# that tree (never from the checkout) and makes a real request against the local simulator:
#
#   luarocks make --deps-mode=none --tree=TMP   for Lua 5.4 and for 5.1 (LuaJIT's ABI)
#   make install PREFIX=TMP / make uninstall    for LUA=lua5.4 and LUA=luajit (+ a DESTDIR run)
#
# Usage: sh scripts/check-install.sh [luarocks|make|all]     (default: all)
# Prints one "ok: ...", "FAIL: ..." or "skip: ..." line per check and a summary line
# "check-install: N ok, M failed, K skipped"; exits 1 when any check failed.
# Works offline: dependencies (lua-cjson, luasocket) come from the system (Debian packages).
# Environment: CURL_DIR / CURL_INCDIR / CURL_LIBDIR are passed on to luarocks when set;
# MJ_CHECK_LUAS limits the interpreters (default "lua5.4 luajit"); KEEP=1 keeps the temp dir.
set -u
what=${1:-all}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mj-check-install.XXXXXX")
luas=${MJ_CHECK_LUAS:-"lua5.4 luajit"}
n_ok=0; n_fail=0; n_skip=0
sim_pid=""

cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "check-install: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { n_ok=$((n_ok + 1)); echo "ok: $*"; }
fail() { n_fail=$((n_fail + 1)); echo "FAIL: $*"; }
skip() { n_skip=$((n_skip + 1)); echo "skip: $*"; }
# show the tail of a log, indented, after a failure
show() { [ -f "$1" ] && tail -n "${2:-25}" "$1" | sed 's/^/    | /'; }

# A copy of the checkout, so build products (src/*.o, build/) never land in the working tree and
# concurrent builds there are not disturbed.
src=$work/src
mkdir -p "$src"
for f in Makefile midjourney-scm-1.rockspec rockspecs src lua bin; do
  [ -e "$root/$f" ] && cp -R "$root/$f" "$src/"
done
mkdir -p "$src/bin" "$src/scripts"
rm -rf "$src/build"
# Install what is in the tree even when the rockspecs' generated lists are stale (files added
# this minute): `make lint` is what reports a stale list.
cp "$root/scripts/gen-rockspec-modules.lua" "$src/scripts/"
for l in lua5.4 luajit lua; do
  if command -v $l > /dev/null 2>&1; then $l "$src/scripts/gen-rockspec-modules.lua" > /dev/null; break; fi
done

# Debian/Ubuntu put curl/curl.h under the multiarch include directory, which LuaRocks 3.8 does
# not search; find the header the way the compiler would and tell LuaRocks.
curl_vars=""
if [ -n "${CURL_DIR:-}" ]; then curl_vars="$curl_vars CURL_DIR=$CURL_DIR"; fi
if [ -n "${CURL_LIBDIR:-}" ]; then curl_vars="$curl_vars CURL_LIBDIR=$CURL_LIBDIR"; fi
if [ -n "${CURL_INCDIR:-}" ]; then
  curl_vars="$curl_vars CURL_INCDIR=$CURL_INCDIR"
elif [ -z "${CURL_DIR:-}" ]; then
  multiarch=$(cc -print-multiarch 2>/dev/null || true)
  for d in "$(pkg-config --variable=includedir libcurl 2>/dev/null)" "/usr/include/$multiarch" /usr/local/include /usr/include; do
    if [ -n "$d" ] && [ -f "$d/curl/curl.h" ]; then curl_vars="$curl_vars CURL_INCDIR=$d"; break; fi
  done
fi

lua_version() { case $1 in luajit) echo 5.1 ;; lua*) echo "${1#lua}" ;; esac; }

# The Lua check run from inside an installed tree: $1 interpreter, $2 expected prefix of the
# module's path, $3 simulator URL or "". Paths come from the environment (LUA_PATH/LUA_CPATH).
probe() {
  (cd "$work" && "$1" - "$2" "$3" <<'EOF'
local prefix, url = arg[1], arg[2]
local function die(...) io.stderr:write(table.concat({ ... }, " "), "\n"); os.exit(1) end
local so = package.searchpath("midjourney.core", package.cpath)
if not so then die("midjourney.core not found on", package.cpath) end
if so:sub(1, #prefix) ~= prefix then die("midjourney.core loads from", so, "not from", prefix) end
local core = require("midjourney.core")
if type(core.version) ~= "string" then die("core.version missing") end
local info = core.curl_info()
-- every installed pure-Lua module loads
local n = 0
local base = prefix:gsub("/lib/lua/", "/share/lua/")
local p = io.popen("cd '" .. base .. "' 2>/dev/null && find midjourney -name '*.lua' | sort")
for f in p:lines() do
  local name = f:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
  local where = package.searchpath(name, package.path)
  if not where or where:sub(1, #base) ~= base then die(name, "resolves to", tostring(where), "not under", base) end
  -- host-specific modules (Neovim, LÖVE) need their host: installed is enough
  if not (name:match("^midjourney%.drivers%.") or name == "midjourney.health") then
    local ok, err = pcall(require, name)
    -- midjourney.image needs the optional C module midjourney.image_core (its own rock): without
    -- it, the require must fail with the message that names the packages to install
    local optional = name == "midjourney.image"
      and tostring(err):find("needs the C module midjourney.image_core", 1, true)
    if not ok and not optional then die("require", name, "failed:", tostring(err)) end
  end
  n = n + 1
end
p:close()
io.write("core ", core.version, ", libcurl ", info.version, ", ", n, " Lua modules installed")
if url ~= "" then
  if type(core.engine) ~= "function" then
    io.write(", request skipped (core.engine not built yet)\n")
    os.exit(0)
  end
  local e = core.engine()
  e:request({ method = "GET", url = url .. "/_sim/stats", timeout = 10 })
  local rec
  local deadline = core.now() + 15
  while not rec and core.now() < deadline do
    local recs = e:step(0.2)
    if recs then rec = recs[1] end
  end
  e:close()
  if not rec then die("no response from", url) end
  if rec.status ~= 200 then die("GET /_sim/stats:", tostring(rec.status), tostring(rec.error)) end
  io.write(", GET ", url, "/_sim/stats -> ", rec.status)
  -- the public API, as a user calls it: imagine, then wait for the grid
  local okm, mj = pcall(require, "midjourney")
  if okm and type(mj) == "table" and type(mj.new) == "function" then
    local c = mj.new({ base_url = url, api_key = "sk-install-check" })
    local id, err = c:imagine("a lighthouse in the fog, install check")
    if not id then die("client:imagine against the simulator:", tostring(err)) end
    if type(c.wait) == "function" then
      local t, werr = c:wait(id, { timeout = 30, interval = 0.05, first_delay = 0 })
      if not t then die("client:wait", tostring(id), tostring(werr)) end
      io.write(", imagine -> wait -> ", tostring(t.status))
    else
      local t, ferr = c:fetch(id)
      if not t then die("client:fetch", tostring(id), tostring(ferr)) end
      io.write(", imagine -> fetch -> ", tostring(t.status))
    end
  end
end
io.write("\n")
EOF
  )
}

# Starts the simulator command $1 (with LUA_PATH/LUA_CPATH already exported) on a free port and
# sets sim_url; returns 1 when it printed no URL.
start_simulator() {
  sim_url=""
  out=$work/sim.out
  : > "$out"
  "$@" --port 0 --speed 1000 --seed 1 > "$out" 2> "$work/sim.err" &
  sim_pid=$!
  i=0
  while [ $i -lt 100 ]; do
    sim_url=$(head -n 1 "$out" | grep -Eo 'https?://[^ ]+' | head -n 1)
    [ -n "$sim_url" ] && return 0
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1; i=$((i + 1))
  done
  stop_simulator
  return 1
}

stop_simulator() {
  if [ -n "$sim_pid" ]; then
    kill "$sim_pid" 2>/dev/null
    wait "$sim_pid" 2>/dev/null
    sim_pid=""
  fi
}

simulator_available() { [ -f "$root/bin/mj-simulator" ]; }

# Runs the load + request check for one installed tree.
# $1 label, $2 interpreter, $3 lib dir (where midjourney/core.so is), $4 simulator command or ""
check_tree() {
  label=$1; lua=$2; libdir=$3; simcmd=$4
  url=""
  if [ -z "$simcmd" ]; then
    skip "$label: request against the simulator (bin/mj-simulator not there yet)"
  elif [ ! -x "$simcmd" ]; then
    fail "$label: $simcmd was not installed"
  elif start_simulator "$simcmd"; then
    url=$sim_url
  else
    fail "$label: $simcmd --port 0 printed no URL on its first line"
    show "$work/sim.err"
  fi
  if res=$(probe "$lua" "$libdir/" "$url" 2> "$work/probe.err"); then
    ok "$label: $res"
  else
    fail "$label: loading from the installed tree"
    show "$work/probe.err"
  fi
  stop_simulator
}

check_luarocks() {
  if ! command -v luarocks > /dev/null 2>&1; then skip "luarocks: not installed"; return; fi
  for lua in $luas; do
    command -v "$lua" > /dev/null 2>&1 || { skip "luarocks $lua: $lua not installed"; continue; }
    ver=$(lua_version "$lua")
    tree=$work/rocks-$lua
    cfg=""
    if [ "$lua" = luajit ]; then
      # LuaJIT speaks the 5.1 ABI: its headers, and the installed commands' wrappers run luajit
      # (a LuaRocks config, as a user's ~/.luarocks/config-5.1.lua would say it).
      inc=$(pkg-config --variable=includedir luajit 2>/dev/null)/luajit-2.1
      [ -f "$inc/lua.h" ] || inc=/usr/include/luajit-2.1
      cfg=$work/luarocks-luajit-config.lua
      printf 'lua_interpreter = "luajit"\nvariables = { LUA_INCDIR = "%s", LUA_BINDIR = "%s" }\n' \
        "$inc" "$(dirname "$(command -v luajit)")" > "$cfg"
    fi
    log=$work/luarocks-$lua.log
    # shellcheck disable=SC2086
    if (cd "$src" && { [ -z "$cfg" ] || export LUAROCKS_CONFIG="$cfg"; } \
          && luarocks --lua-version="$ver" make --deps-mode=none --tree="$tree" \
          midjourney-scm-1.rockspec $curl_vars) > "$log" 2>&1; then
      ok "luarocks make --lua-version=$ver ($lua) into a throwaway tree"
    else
      fail "luarocks make --lua-version=$ver ($lua)"; show "$log"; continue
    fi
    rm -f "$src"/src/*.o; rm -rf "$src/midjourney"
    for b in mj mj-simulator; do
      if [ -f "$root/bin/$b" ]; then
        if [ -x "$tree/bin/$b" ] && grep -q "/$lua'" "$tree/bin/$b"; then
          ok "luarocks $lua: bin/$b installed, runs $lua"
        else
          fail "luarocks $lua: bin/$b missing from $tree/bin or its wrapper does not run $lua"
        fi
      fi
    done
    simcmd=""
    simulator_available && simcmd=$tree/bin/mj-simulator
    (
      eval "$(luarocks --lua-version="$ver" --tree="$tree" path)"
      export LUA_PATH LUA_CPATH PATH
      check_tree "luarocks $lua" "$lua" "$tree/lib/lua/$ver" "$simcmd"
      echo "$n_ok $n_fail $n_skip" > "$work/counts"
    )
    read -r n_ok n_fail n_skip < "$work/counts"
  done
}

check_make() {
  for lua in $luas; do
    command -v "$lua" > /dev/null 2>&1 || { skip "make install LUA=$lua: $lua not installed"; continue; }
    ver=$(lua_version "$lua")
    prefix=$work/prefix-$lua
    log=$work/make-$lua.log
    if (cd "$src" && make install LUA="$lua" PREFIX="$prefix") > "$log" 2>&1; then
      ok "make install LUA=$lua PREFIX=<tmp>"
    else
      fail "make install LUA=$lua PREFIX=<tmp>"; show "$log"; continue
    fi
    [ -f "$prefix/lib/lua/$ver/midjourney/core.so" ] || fail "make install $lua: no lib/lua/$ver/midjourney/core.so"
    for b in mj mj-simulator; do
      if [ -f "$root/bin/$b" ]; then
        if [ -x "$prefix/bin/$b" ] && head -n 1 "$prefix/bin/$b" | grep -q "$lua"; then
          ok "make install $lua: bin/$b installed, runs $lua"
        else
          fail "make install $lua: bin/$b missing or its #! line does not name $lua"
        fi
      fi
    done
    simcmd=""
    simulator_available && simcmd=$prefix/bin/mj-simulator
    (
      LUA_PATH="$prefix/share/lua/$ver/?.lua;$prefix/share/lua/$ver/?/init.lua;;"
      LUA_CPATH="$prefix/lib/lua/$ver/?.so;;"
      export LUA_PATH LUA_CPATH
      check_tree "make install $lua" "$lua" "$prefix/lib/lua/$ver" "$simcmd"
      echo "$n_ok $n_fail $n_skip" > "$work/counts"
    )
    read -r n_ok n_fail n_skip < "$work/counts"
    if (cd "$src" && make uninstall LUA="$lua" PREFIX="$prefix") >> "$log" 2>&1; then
      left=$(find "$prefix" -type f 2>/dev/null)
      if [ -z "$left" ]; then
        ok "make uninstall LUA=$lua removes every installed file"
      else
        fail "make uninstall LUA=$lua left files behind:"; echo "$left" | sed "s|$prefix|    | <prefix>|"
      fi
    else
      fail "make uninstall LUA=$lua"; show "$log"
    fi
  done
  # DESTDIR staging, as distribution packagers use it
  lua=$(echo "$luas" | awk '{print $1}')
  ver=$(lua_version "$lua")
  dest=$work/destdir
  if (cd "$src" && make install LUA="$lua" PREFIX=/usr/local DESTDIR="$dest") > "$work/destdir.log" 2>&1 \
      && [ -f "$dest/usr/local/lib/lua/$ver/midjourney/core.so" ] \
      && [ -n "$(find "$dest/usr/local/share/lua/$ver/midjourney" -name '*.lua' 2>/dev/null | head -n 1)" ]; then
    ok "make install DESTDIR=<tmp> PREFIX=/usr/local stages under DESTDIR"
  else
    fail "make install DESTDIR=<tmp> PREFIX=/usr/local"; show "$work/destdir.log"
  fi
}

case $what in
  luarocks) check_luarocks ;;
  make) check_make ;;
  all) check_luarocks; check_make ;;
  *) echo "usage: sh scripts/check-install.sh [luarocks|make|all]" >&2; exit 2 ;;
esac

echo "check-install: $n_ok ok, $n_fail failed, $n_skip skipped"
[ "$n_fail" -eq 0 ]
