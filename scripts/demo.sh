#!/bin/sh
# make demo: start the local simulator, run examples/demo.lua against it, stop it.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;"
export LUA_CPATH="$root/build/lua5.4/?.so;;"
tmp=$(mktemp -d)
lua5.4 "$root/bin/mj-simulator" --port 0 --speed ${MJ_DEMO_SPEED:-10} --key demo-key >"$tmp/sim.out" 2>"$tmp/sim.err" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
i=0
until grep -q "listening on" "$tmp/sim.out" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 100 ] && { echo "simulator did not start:"; cat "$tmp/sim.err"; exit 1; }
  kill -0 $pid 2>/dev/null || { echo "simulator exited:"; cat "$tmp/sim.err"; exit 1; }
  sleep 0.1
done
url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/sim.out" | head -1)
echo "simulator: $url"
COMETAPI_BASE_URL="$url" COMETAPI_KEY=demo-key lua5.4 "$root/examples/demo.lua" "$@"
