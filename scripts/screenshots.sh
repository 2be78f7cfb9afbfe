#!/bin/sh
# make screenshots: the pictures in the README, taken against the local simulator.
#   docs/img/cli.png   `mj wait A B C` in a real xterm, captured while the bars move
#   docs/img/love.png  the example LÖVE game (examples/love) showing the finished grid
# Needs Xvfb, xterm, ImageMagick's `import`, LÖVE, the DejaVu fonts, pngquant (optional),
# and both cores built (make; make LUA=luajit).
# Usage: sh scripts/screenshots.sh [OUTDIR]   (default docs/img)
# Env: MJ_SHOTS_SPEED (simulator speed, default 10), MJ_SHOTS_COLORS (default 64).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
outdir=${1:-$root/docs/img}
speed=${MJ_SHOTS_SPEED:-10}
colors=${MJ_SHOTS_COLORS:-64}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
tmp=$(mktemp -d /tmp/mj-shots.XXXXXX)
sim=""; xvfb=""; term=""

cleanup() {
  for p in $term $sim $xvfb; do kill "$p" 2>/dev/null || true; done
  for p in $term $sim $xvfb; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "screenshots: $*" >&2; exit 1; }
for c in lua5.4 Xvfb xterm import identify convert love timeout; do
  command -v "$c" >/dev/null 2>&1 || die "$c is not installed (make screenshots installs it: sh scripts/deps.sh screenshots)"
done
[ -f "$root/build/lua5.4/midjourney/core.so" ] || die "build the Lua 5.4 core first: make"
[ -f "$root/build/luajit/midjourney/core.so" ] || die "build the LuaJIT core first: make LUA=luajit"

export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;"
export LUA_CPATH="$root/build/lua5.4/?.so;;"
export LC_ALL=C.UTF-8
key=shots-key

# Polls (every 0.1 s, at most $1 seconds) until the command "$2 ..." succeeds.
until_true() {
  n=$(($1 * 10)); shift
  while ! "$@"; do
    n=$((n - 1)); [ $n -gt 0 ] || return 1
    sleep 0.1
  done
}

# --- the simulator, on a free loopback port; deterministic ids and timings (--seed)
lua5.4 "$root/bin/mj-simulator" --port 0 --speed "$speed" --seed 8 --key "$key" --watch-pid $$ \
  >"$tmp/sim.out" 2>"$tmp/sim.err" </dev/null &
sim=$!
until_true 10 grep -q "listening on" "$tmp/sim.out" || die "simulator did not start: $(cat "$tmp/sim.err")"
url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/sim.out" | head -1)
export COMETAPI_BASE_URL="$url" COMETAPI_KEY="$key"

# --- an X server of our own (it picks a free display number and tells us on fd 3)
Xvfb -displayfd 3 -screen 0 1024x768x24 -nolisten tcp 3>"$tmp/display" >"$tmp/xvfb.log" 2>&1 </dev/null &
xvfb=$!
until_true 10 grep -q "[0-9]" "$tmp/display" || die "Xvfb did not start: $(cat "$tmp/xvfb.log")"
DISPLAY=":$(head -1 "$tmp/display")"
export DISPLAY

# --- docs/img/cli.png: three imagines, then `mj wait` draws one live bar per task
cat >"$tmp/session.sh" <<EOF
printf '\033[?25l'                      # no cursor in the picture
echo "\$WINDOWID" >"$tmp/wid.tmp" && mv "$tmp/wid.tmp" "$tmp/wid"
mj() { lua5.4 "$root/bin/mj" "\$@"; }
say() { printf '\033[1;32m\$\033[0m %s\n' "\$*"; }
say 'A=\$(mj imagine "a paper boat at sunrise")';   A=\$(mj imagine "a paper boat at sunrise")
sleep 1
say 'B=\$(mj imagine "a lighthouse in the fog")';   B=\$(mj imagine "a lighthouse in the fog")
sleep 1
say 'C=\$(mj imagine "a red kite over the dunes")'; C=\$(mj imagine "a red kite over the dunes")
echo "\$A \$B \$C" >"$tmp/ids"
say 'mj wait \$A \$B \$C'
mj wait "\$A" "\$B" "\$C" --interval 0.25 >/dev/null
sleep 60
EOF
xterm -geometry 84x8+0+0 -fa "DejaVu Sans Mono" -fs 11 -bg "#1d1f21" -fg "#d8dadc" -b 8 -u8 \
  -xrm "XTerm*cursorBlink: false" -xrm "XTerm*scrollBar: false" -T "mj wait" \
  -e sh "$tmp/session.sh" >"$tmp/xterm.log" 2>&1 </dev/null &
term=$!
until_true 15 test -s "$tmp/ids" || die "the terminal session did not submit: $(cat "$tmp/xterm.log")"
read -r a _ c <"$tmp/ids"
# the moment to take: the first task done, the last one on its way
state() { timeout 10 lua5.4 "$root/bin/mj" fetch "$1" 2>/dev/null | head -1; }
ready() {
  sa=$(state "$a"); sc=$(state "$c")
  case $sa in *SUCCESS*) ;; *) return 1 ;; esac
  case $sc in *IN_PROGRESS*) ;; *) return 1 ;; esac
  p=$(echo "$sc" | grep -oE '[0-9]+%' | tr -d %)
  [ "${p:-0}" -ge 15 ]
}
until_true 30 ready || die "no moment with the first task done and the last in progress ($sa / $sc)"
sleep 0.6 # one more poll of the CLI, drawn
timeout 20 import -window "$(cat "$tmp/wid")" "$tmp/cli.png" || die "import failed"
kill "$term" 2>/dev/null || true

# --- docs/img/love.png: the example game once the job is done and the grid is drawn
MJ_LOVE_RESULT="$tmp/love-result.lua" MJ_LOVE_SCREENSHOT="$tmp/love.png" \
  timeout -k 5 60 love "$root/examples/love" --url "$url" --key "$key" --dir "$tmp" \
  --prompt "a paper boat at sunrise" >"$tmp/love.log" 2>&1 </dev/null || die "love failed: $(cat "$tmp/love.log")"
[ -s "$tmp/love.png" ] || die "the game saved no screenshot: $(cat "$tmp/love.log")"

# --- crop the blank: the terminal's empty last row (the cursor's), and below the game's image
# (drawn at y 70, scaled by min((640 - 40) / w, (520 - 90) / h, 1), as in examples/love/main.lua)
h=$(identify -format %h "$tmp/cli.png")
timeout 60 convert "$tmp/cli.png" -gravity South -chop "0x$(( (h - 16) / 8 ))" +repage "$tmp/cli-crop.png"
iw=$(sed -n 's/^ *image_width = \([0-9]*\),/\1/p' "$tmp/love-result.lua")
ih=$(sed -n 's/^ *image_height = \([0-9]*\),/\1/p' "$tmp/love-result.lua")
if [ -z "$iw" ] || [ -z "$ih" ]; then die "no image size in the game's result: $(cat "$tmp/love-result.lua")"; fi
ch=$(awk -v w="$iw" -v h="$ih" 'BEGIN { s = 600 / w; if (430 / h < s) s = 430 / h; if (s > 1) s = 1; print int(70 + h * s + 20) }')
timeout 60 convert "$tmp/love.png" -crop "640x$ch+0+0" +repage "$tmp/love-crop.png"

# --- small files: fewer colours, no metadata
shrink() {
  if command -v pngquant >/dev/null 2>&1; then
    timeout 60 pngquant --force --strip --speed 1 "$colors" --output "$2" "$1"
  else
    timeout 60 convert "$1" -strip -colors "$colors" "png8:$2"
  fi
}
shrink "$tmp/cli-crop.png" "$outdir/cli.png"
shrink "$tmp/love-crop.png" "$outdir/love.png"
for f in "$outdir/cli.png" "$outdir/love.png"; do
  echo "$f: $(wc -c <"$f") bytes"
done
