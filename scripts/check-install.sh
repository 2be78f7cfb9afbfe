#!/bin/sh
# Installs lua-midjourney with the README's own commands ("Install"), each into a throwaway place,
# then uses it from there the way a user would: with no LUA_PATH/LUA_CPATH set, the installed
# `mj --version`, the installed `mj-simulator`, a real job through the installed `mj`, and every
# installed module loaded by the interpreter the install was for.
#
#   luarocks  The README's `sudo luarocks ...` lines, verbatim minus `sudo` (this runs as root),
#             in a private mount namespace (unshare) whose /usr/local is an empty tmpfs and whose
#             /etc/luarocks is a copy: Lua 5.4, the image rock, LuaJIT (the 5.1 tree), and the
#             `luarocks install URL` line with its two GitHub URLs swapped for a local rockspec
#             copy and a local git repository of this tree (no network here). The forms without
#             --deps-mode=none need luarocks.org: they are run too, and reported as skipped when
#             it cannot be reached.
#   make      make install PREFIX=<tmp> for Lua 5.4 and LUA=luajit into the same prefix (bin/mj
#             and bin/mj-luajit side by side), make uninstall, and a DESTDIR staging.
#
# Usage: sh scripts/check-install.sh [luarocks|make|all]     (default: all)
# Prints "readme: CMD" for each README command it runs (spec/install_spec.lua checks README.md
# has them), one "ok: ...", "FAIL: ..." or "skip: ..." line per check, and a summary line
# "check-install: N ok, M failed, K skipped"; exits 1 when any check failed.
# Works offline: lua-cjson and luasocket come from Debian's lua-cjson and lua-socket packages.
# The luarocks part needs root and unshare(1) (util-linux); without them it is skipped.
# KEEP=1 keeps the temporary directory.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
self=$root/scripts/check-install.sh
if [ "${1:-}" = "--in-namespace" ]; then
  what=namespace; work=$2
else
  what=${1:-all}
  work=$(mktemp -d "${TMPDIR:-/tmp}/mj-check-install.XXXXXX")
fi
src=$work/src
n_ok=0; n_fail=0; n_skip=0
sim_pid=""
probe_path=""; probe_cpath=""

# The README's commands, verbatim.
LR54_ONLINE='sudo luarocks --lua-version=5.4 make'
LR54='sudo luarocks --lua-version=5.4 make --deps-mode=none'
LR54_IMAGE='sudo luarocks --lua-version=5.4 make --deps-mode=none rockspecs/image/midjourney-image-scm-1.rockspec'
LR51_CONFIG='sudo luarocks config --scope system lua_interpreter luajit'
LR51_ONLINE='sudo luarocks make'
LR51='sudo luarocks make --deps-mode=none'
LR51_IMAGE='sudo luarocks make --deps-mode=none rockspecs/image/midjourney-image-scm-1.rockspec'
LR_INSTALL_URL='https://raw.githubusercontent.com/lua-midjourney/lua-midjourney/main/midjourney-scm-1.rockspec'
LR_INSTALL="sudo luarocks --lua-version=5.4 install $LR_INSTALL_URL"

# A user's shell: no Lua search paths from the caller (scripts/test.sh sets them for busted).
unset LUA_PATH LUA_CPATH LUA_PATH_5_4 LUA_CPATH_5_4 LUA_INIT LUA_INIT_5_4

cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null; fi
  [ "$what" = namespace ] && return
  if [ "${KEEP:-0}" = 1 ]; then echo "check-install: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { n_ok=$((n_ok + 1)); echo "ok: $*"; }
fail() { n_fail=$((n_fail + 1)); echo "FAIL: $*"; }
skip() { n_skip=$((n_skip + 1)); echo "skip: $*"; }
# show the tail of a log, indented, after a failure
show() { [ -f "$1" ] && tail -n "${2:-25}" "$1" | sed 's/^/    | /'; }

# Runs one README command (minus `sudo `) in the copy of the checkout; $2 is its log file.
readme_run() {
  echo "readme: $1"
  cmd=${1#sudo }
  (cd "$src" && HOME=$work/home timeout 600 sh -c "$cmd") > "$2" 2>&1
  rc=$?
  # builtin builds leave objects in the source tree: the next build starts clean
  rm -f "$src"/src/*.o "$src"/src/image/*.o; rm -rf "$src/midjourney"
  return $rc
}

# A form that fetches lua-cjson and luasocket from luarocks.org: ok online, skipped offline.
readme_run_online() {
  log=$work/online.log
  if readme_run "$1" "$log"; then
    ok "$1 (fetched the dependencies from luarocks.org)"
  elif grep -Eq "Failed downloading|Could not satisfy dependency|No results matching" "$log" \
      && ! grep -q "Could not find" "$log"; then
    skip "$1: needs the network (luarocks.org cannot be reached here); it got as far as fetching lua-cjson and luasocket"
  else
    fail "$1"; show "$log"
  fi
}

# The Lua check: $1 interpreter, $2 directory midjourney.core must load from, $3 simulator URL
# or "". Search paths are the interpreter's defaults unless the caller exported LUA_PATH/LUA_CPATH.
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
if n < 10 then die("only", n, "Lua modules under", base) end
local mj = require("midjourney")
io.write("library ", tostring(mj._VERSION), ", core ", core.version, ", libcurl ", info.version, ", ", n,
  " Lua modules")
if url ~= "" then
  local c = mj.new({ base_url = url, api_key = "sk-install-check" })
  local id, err = c:imagine("a lighthouse in the fog, install check")
  if not id then die("client:imagine against the simulator:", tostring(err)) end
  local t, werr = c:wait(id, { timeout = 30, interval = 0.05, first_delay = 0 })
  if not t then die("client:wait", tostring(id), tostring(werr)) end
  io.write(", imagine -> wait -> ", tostring(t.status))
end
io.write("\n")
EOF
  )
}

# Starts the simulator command $1 on a free port and sets sim_url; returns 1 when it printed no URL.
start_simulator() {
  sim_url=""
  out=$work/sim.out
  : > "$out"
  "$1" --port 0 --speed 1000 --seed 1 > "$out" 2> "$work/sim.err" &
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

# Checks one installed set of commands and modules, with no LUA_PATH/LUA_CPATH set; `probe` (Lua
# code using the library) gets $probe_path/$probe_cpath when they are set (a PREFIX off the
# interpreter's default paths, as the README says).
# $1 label, $2 interpreter, $3 lib dir (holding midjourney/core.so), $4 installed mj,
# $5 installed mj-simulator, $6 the interpreter `$4 --version` must name (e.g. "Lua 5.4").
check_tree() {
  label=$1; lua=$2; libdir=$3; mjcmd=$4; simcmd=$5; names=$6
  if [ ! -f "$libdir/midjourney/core.so" ]; then fail "$label: no $libdir/midjourney/core.so"; fi
  if out=$(env -u LUA_PATH -u LUA_CPATH timeout 30 "$mjcmd" --version 2> "$work/version.err") \
      && echo "$out" | grep -q "$names"; then
    ok "$label: $(basename "$mjcmd") --version with no environment: $(echo "$out" | tr '\n' ' ')"
  else
    fail "$label: $mjcmd --version (want $names): $out"; show "$work/version.err"
  fi
  url=""
  if start_simulator "$simcmd"; then
    url=$sim_url
  else
    fail "$label: $simcmd --port 0 printed no URL on its first line"; show "$work/sim.err"
  fi
  if [ -n "$url" ]; then
    png=$work/job.png
    rm -f "$png"
    if env -u LUA_PATH -u LUA_CPATH COMETAPI_BASE_URL="$url" COMETAPI_KEY=sk-install-check timeout 120 \
        "$mjcmd" imagine "a paper boat, install check" --interval 0.05 --download "$png" > "$work/cli.log" 2>&1 \
        && [ "$(head -c 4 "$png" 2>/dev/null | tail -c 3)" = PNG ]; then
      ok "$label: $(basename "$mjcmd") imagine --download against $(basename "$simcmd"), no environment: a PNG"
    else
      fail "$label: $(basename "$mjcmd") imagine --download against the installed simulator"; show "$work/cli.log"
    fi
  fi
  if res=$(if [ -n "$probe_path" ]; then export LUA_PATH="$probe_path" LUA_CPATH="$probe_cpath"; fi
           probe "$lua" "$libdir/" "$url" 2> "$work/probe.err"); then
    ok "$label: $lua: $res"
  else
    fail "$label: $lua loading the installed tree"; show "$work/probe.err"
  fi
  stop_simulator
}

# A copy of the checkout: build products never land in the working tree, and concurrent builds
# there are not disturbed.
copy_checkout() {
  rm -rf "$src"; mkdir -p "$src/scripts" "$work/home"
  for f in Makefile midjourney-scm-1.rockspec rockspecs src lua bin; do
    [ -e "$root/$f" ] && cp -R "$root/$f" "$src/"
  done
  rm -rf "$src/build"
  # Install what is in the tree even when the generated lists are stale (a file added this
  # minute): `make lint` is what reports a stale list.
  cp "$root/scripts/gen-rockspec-modules.lua" "$src/scripts/"
  lua5.4 "$src/scripts/gen-rockspec-modules.lua" > /dev/null
}

# --- luarocks, inside the namespace -----------------------------------------------------------------
namespace_checks() {
  mount -t tmpfs tmpfs /usr/local || { fail "mount a tmpfs on /usr/local in the namespace"; return; }
  cp -a /etc/luarocks "$work/etc-luarocks" && mount --bind "$work/etc-luarocks" /etc/luarocks \
    || { fail "bind a copy of /etc/luarocks in the namespace"; return; }
  L=/usr/local

  # Lua 5.4
  readme_run_online "$LR54_ONLINE"
  if readme_run "$LR54" "$work/lr54.log"; then
    ok "$LR54"
    check_tree "luarocks 5.4" lua5.4 "$L/lib/lua/5.4" "$L/bin/mj" "$L/bin/mj-simulator" "Lua 5.4"
  else
    fail "$LR54"; show "$work/lr54.log"
  fi
  if readme_run "$LR54_IMAGE" "$work/lr54i.log"; then
    if out=$(cd "$work" && lua5.4 -e 'local i = require "midjourney.image"
        assert(type(i.split) == "function") print(package.searchpath("midjourney.image_core", package.cpath))' 2>&1) \
        && [ "$out" = "$L/lib/lua/5.4/midjourney/image_core.so" ]; then
      ok "$LR54_IMAGE: midjourney.image loads in lua5.4 ($out)"
    else
      fail "$LR54_IMAGE: midjourney.image in lua5.4: $out"
    fi
  else
    fail "$LR54_IMAGE"; show "$work/lr54i.log"
  fi

  # Lua 5.1: LuaJIT's ABI
  interp=$(HOME=$work/home luarocks config lua_interpreter 2>/dev/null)
  if [ "$interp" = lua5.1 ]; then
    ok "plain luarocks is Lua 5.1 and its commands would run lua5.1 (what the README says)"
  else
    skip "plain luarocks runs commands with '$interp', not lua5.1: this is not Debian's default setup"
  fi
  readme_run_online "$LR51_ONLINE"
  if readme_run "$LR51_CONFIG" "$work/lr51c.log" && readme_run "$LR51" "$work/lr51.log"; then
    ok "$LR51_CONFIG; $LR51"
    if head -n 5 "$L/bin/mj" | grep -q "/luajit'"; then
      ok "luarocks 5.1: $L/bin/mj runs luajit"
    else
      fail "luarocks 5.1: $L/bin/mj does not run luajit:"; head -n 3 "$L/bin/mj" | sed 's/^/    | /'
    fi
    check_tree "luarocks 5.1" luajit "$L/lib/lua/5.1" "$L/bin/mj" "$L/bin/mj-simulator" "LuaJIT"
  else
    fail "$LR51_CONFIG; $LR51"; show "$work/lr51c.log"; show "$work/lr51.log"
  fi
  if readme_run "$LR51_IMAGE" "$work/lr51i.log"; then
    if out=$(cd "$work" && luajit -e 'local i = require "midjourney.image"
        assert(type(i.split) == "function") print(package.searchpath("midjourney.image_core", package.cpath))' 2>&1) \
        && [ "$out" = "$L/lib/lua/5.1/midjourney/image_core.so" ]; then
      ok "$LR51_IMAGE: midjourney.image loads in luajit ($out)"
    else
      fail "$LR51_IMAGE: midjourney.image in luajit: $out"
    fi
  else
    fail "$LR51_IMAGE"; show "$work/lr51i.log"
  fi

  # luarocks install URL: the rockspec it downloads is midjourney-scm-1.rockspec of branch main,
  # whose source is the GitHub repository; both are swapped for local copies of this tree.
  mount -t tmpfs tmpfs /usr/local
  git=$work/git
  rm -rf "$git"; mkdir -p "$git" "$work/rs"
  (cd "$src" && cp -R Makefile midjourney-scm-1.rockspec rockspecs src lua bin "$git/") \
    && (cd "$git" && git init -q -b main && git add -A \
        && git -c user.name=check-install -c user.email=check-install@localhost commit -q -m tree) \
    || { fail "a local git repository of the tree"; return; }
  sed "s|git+https://github.com/lua-midjourney/lua-midjourney.git|git+file://$git|" \
    "$src/midjourney-scm-1.rockspec" > "$work/rs/midjourney-scm-1.rockspec"
  if ! grep -q "git+https://github.com/lua-midjourney/lua-midjourney.git" "$src/midjourney-scm-1.rockspec" \
      || ! grep -q 'branch = "main"' "$src/midjourney-scm-1.rockspec"; then
    fail "midjourney-scm-1.rockspec does not fetch branch main of github.com/lua-midjourney/lua-midjourney"
  fi
  form="${LR_INSTALL#sudo } --deps-mode=none"
  form=$(echo "$form" | sed "s|$LR_INSTALL_URL|$work/rs/midjourney-scm-1.rockspec|")
  echo "readme: $LR_INSTALL"
  if (cd "$work" && HOME=$work/home timeout 600 sh -c "$form") > "$work/lri.log" 2>&1; then
    ok "$LR_INSTALL (the rockspec and the repository local, --deps-mode=none: offline)"
    check_tree "luarocks install" lua5.4 "$L/lib/lua/5.4" "$L/bin/mj" "$L/bin/mj-simulator" "Lua 5.4"
  else
    fail "luarocks install from the rockspec: $form"; show "$work/lri.log"
  fi
}

check_luarocks() {
  if ! command -v luarocks > /dev/null 2>&1; then skip "luarocks: not installed"; return; fi
  if [ "$(id -u)" != 0 ] || ! command -v unshare > /dev/null 2>&1 \
      || ! unshare --mount --propagation private true 2> /dev/null; then
    skip "luarocks: the README's 'sudo luarocks' lines install into /usr/local; checking them needs root and unshare(1)"
    return
  fi
  : > "$work/counts-ns"
  unshare --mount --propagation private sh "$self" --in-namespace "$work"
  if read -r a b c < "$work/counts-ns"; then
    n_ok=$((n_ok + a)); n_fail=$((n_fail + b)); n_skip=$((n_skip + c))
  else
    fail "luarocks: the namespace run ended early"
  fi
}

# --- make install -----------------------------------------------------------------------------------
check_make() {
  prefix=$work/prefix
  log=$work/make.log
  # Lua 5.4: bin/mj, bin/mj-simulator
  if (cd "$src" && make install PREFIX="$prefix") > "$log" 2>&1; then
    ok "make install PREFIX=<tmp>"
    probe_path="$prefix/share/lua/5.4/?.lua;$prefix/share/lua/5.4/?/init.lua;;" probe_cpath="$prefix/lib/lua/5.4/?.so;;"
    check_tree "make install" lua5.4 "$prefix/lib/lua/5.4" "$prefix/bin/mj" "$prefix/bin/mj-simulator" "Lua 5.4"
  else
    fail "make install PREFIX=<tmp>"; show "$log"; return
  fi
  # LuaJIT into the same prefix: bin/mj-luajit, bin/mj-simulator-luajit; bin/mj stays Lua 5.4's
  if (cd "$src" && make install LUA=luajit PREFIX="$prefix") > "$log" 2>&1; then
    ok "make install LUA=luajit PREFIX=<tmp> (the same prefix)"
    probe_path="$prefix/share/lua/5.1/?.lua;$prefix/share/lua/5.1/?/init.lua;;" probe_cpath="$prefix/lib/lua/5.1/?.so;;"
    check_tree "make install LUA=luajit" luajit "$prefix/lib/lua/5.1" "$prefix/bin/mj-luajit" \
      "$prefix/bin/mj-simulator-luajit" "LuaJIT"
    if env -u LUA_PATH -u LUA_CPATH "$prefix/bin/mj" --version 2>&1 | grep -q "Lua 5.4"; then
      ok "make install LUA=luajit left bin/mj (Lua 5.4) alone"
    else
      fail "make install LUA=luajit replaced bin/mj: $("$prefix/bin/mj" --version 2>&1 | tr '\n' ' ')"
    fi
  else
    fail "make install LUA=luajit PREFIX=<tmp>"; show "$log"
  fi
  probe_path=""; probe_cpath=""
  # uninstall, one build at a time
  if (cd "$src" && make uninstall LUA=luajit PREFIX="$prefix") >> "$log" 2>&1 \
      && [ ! -e "$prefix/bin/mj-luajit" ] && [ ! -e "$prefix/lib/lua/5.1/midjourney/core.so" ] \
      && env -u LUA_PATH -u LUA_CPATH "$prefix/bin/mj" --version > /dev/null 2>&1; then
    ok "make uninstall LUA=luajit removes the LuaJIT build and keeps the Lua 5.4 one"
  else
    fail "make uninstall LUA=luajit"; show "$log"
  fi
  if (cd "$src" && make uninstall PREFIX="$prefix") >> "$log" 2>&1; then
    left=$(find "$prefix" -type f 2>/dev/null)
    if [ -z "$left" ]; then
      ok "make uninstall removes every installed file"
    else
      fail "make uninstall left files behind:"; echo "$left" | sed "s|$prefix|    | <prefix>|"
    fi
  else
    fail "make uninstall"; show "$log"
  fi
  # DESTDIR staging, as distribution packagers use it: the commands name PREFIX, not DESTDIR
  dest=$work/destdir
  if (cd "$src" && make install PREFIX=/opt/mj DESTDIR="$dest") > "$work/destdir.log" 2>&1 \
      && [ -f "$dest/opt/mj/lib/lua/5.4/midjourney/core.so" ] \
      && [ -f "$dest/opt/mj/share/lua/5.4/midjourney/init.lua" ] \
      && grep -q "/opt/mj/share/lua/5.4/?.lua" "$dest/opt/mj/bin/mj" \
      && ! grep -q "$dest" "$dest/opt/mj/bin/mj"; then
    ok "make install DESTDIR=<tmp> PREFIX=/opt/mj stages under DESTDIR; bin/mj looks in /opt/mj"
  else
    fail "make install DESTDIR=<tmp> PREFIX=/opt/mj"; show "$work/destdir.log"
  fi
}

if [ "$what" = namespace ]; then
  namespace_checks
  echo "$n_ok $n_fail $n_skip" > "$work/counts-ns"
  exit 0
fi

for tool in lua5.4 luajit make cc; do
  command -v $tool > /dev/null 2>&1 || { echo "check-install: $tool is not installed (sh scripts/deps.sh test)"; exit 1; }
done
copy_checkout
case $what in
  luarocks) check_luarocks ;;
  make) check_make ;;
  all) check_luarocks; check_make ;;
  *) echo "usage: sh scripts/check-install.sh [luarocks|make|all]" >&2; exit 2 ;;
esac

echo "check-install: $n_ok ok, $n_fail failed, $n_skip skipped"
[ "$n_fail" -eq 0 ]
