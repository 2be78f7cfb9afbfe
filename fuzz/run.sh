#!/bin/sh
# Builds the libFuzzer targets of the C scanners and of the image codec glue into fuzz/out/
# and runs each for a bounded time. Exits non-zero when a target crashes (the input is kept in
# fuzz/out/artifacts/<target>/; turn it into a case in spec/scan_spec.lua or spec/image_spec.lua).
# Usage: sh fuzz/run.sh [seconds per target, default 20] [target ...]
# Needs clang with libFuzzer (Debian: clang libclang-rt-14-dev); the image target also needs
# libspng-dev libjpeg-dev libwebp-dev (the system libraries are not instrumented: the target
# checks our glue, buffer sizes and limits around them).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
secs=${1:-${MJ_FUZZ_SECONDS:-20}}
[ $# -gt 0 ] && shift
targets=${*:-"json quote retry_after progress classify decode image"}
CC=${FUZZ_CC:-clang}
out=fuzz/out
mkdir -p "$out"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
status=0
for t in $targets; do
  src=fuzz/fuzz_$t.c
  [ -f "$src" ] || { echo "fuzz: no target $t" >&2; exit 2; }
  case $t in
    image) srcs="src/image/codec.c $(pkg-config --cflags --libs spng libjpeg libwebp 2>/dev/null || echo -lspng -ljpeg -lwebp) -lm" ;;
    # decode: the C scanner against the Lua decode path (embeds Lua 5.4, the core and lua-cjson)
    decode) srcs="src/scan.c -DMJ_ROOT=\"$root\" src/core.c src/engine.c src/scan_lua.c
      $(pkg-config --cflags --libs lua5.4 libcurl)" ;;
    *) srcs=src/scan.c ;;
  esac
  # shellcheck disable=SC2086
  if ! $CC $flags -Wall -Wextra -o "$out/fuzz_$t" "$src" $srcs; then
    echo "fuzz: cannot build $t (are libclang-rt-14-dev and, for image, libspng-dev libjpeg-dev libwebp-dev installed?)" >&2
    exit 2
  fi
done
for t in $targets; do
  work=$out/corpus/$t
  art=$out/artifacts/$t/
  mkdir -p "$work" "$art"
  dict=""
  corpus_of=$t
  [ "$t" = decode ] && corpus_of=json # the same bodies the scanner's own target starts from
  maxlen=8192
  case $t in
    json|quote|classify|decode) dict="-dict=fuzz/json.dict" ;;
    image) dict="-dict=fuzz/image.dict"; maxlen=65536 ;;
  esac
  echo "== fuzz $t for ${secs}s"
  # new inputs go to the work corpus; the committed seeds stay read-only
  if "$out/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$maxlen" \
       -print_final_stats=1 -artifact_prefix="$art" $dict "$work" "fuzz/corpus/$corpus_of" \
       >"$out/$t.log" 2>&1; then
    grep -E "^stat::number_of_executed_runs|^Done" "$out/$t.log" | tr '\n' ' '; echo
  else
    status=1
    echo "fuzz: $t FAILED, see $out/$t.log and $art" >&2
    grep -E "ERROR|SUMMARY|Test unit written" "$out/$t.log" >&2
  fi
done
exit $status
