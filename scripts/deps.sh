#!/bin/sh
# Installs the Debian/Ubuntu packages a make target needs, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command to run.
# Usage: sh scripts/deps.sh check|test|demo|lint|doc|bench|fuzz|screenshots
#   check: only what the unit specs need (Lua 5.4, LuaJIT, lua-cjson, libcurl, busted, a C compiler)
set -e
what=${1:-test}
pkgs="lua5.4 liblua5.4-dev luajit libluajit-5.1-dev lua-cjson libcurl4-openssl-dev lua-busted pkg-config gcc make"
# midjourney.image_core (optional for users, built and tested here): libspng, libjpeg-turbo, libwebp
image="libspng-dev libjpeg-dev libwebp-dev"
case $what in
  check) ;;
  # libjpeg-turbo-progs (cjpeg, djpeg) and webp (cwebp) make and check the test grids of spec/image_spec.lua;
  # lua-luv, lua-cqueues (Lua 5.1-5.4) and lua-http (Debian ships it for 5.1-5.3: LuaJIT) for spec/drivers_spec.lua
  test) pkgs="$pkgs lua-socket lua-luv lua-cqueues lua-http $image libjpeg-turbo-progs webp neovim love xvfb xauth valgrind clang tmux luarocks lua-check lua-ldoc lua-markdown curl zip openssl gzip git" ;;
  demo) pkgs="$pkgs lua-socket" ;;
  lint) pkgs="$pkgs lua-socket lua-check clang-format cppcheck luarocks" ;;
  doc) pkgs="$pkgs lua-ldoc lua-markdown" ;;
  bench) pkgs="$pkgs lua-socket $image imagemagick nginx libnginx-mod-http-js valgrind lua-curl lua-http lua-cqueues lua-luv time curl" ;;
  screenshots) pkgs="$pkgs lua-socket love xvfb xterm imagemagick pngquant fonts-dejavu-core" ;;
  fuzz) pkgs="$pkgs lua-socket $image clang libclang-rt-14-dev" ;;
esac
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "scripts/deps.sh: installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "scripts/deps.sh: missing packages. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
