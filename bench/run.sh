#!/bin/sh
# Benchmark suite (issue 7). Started by `make bench`, which installs the Debian
# packages (scripts/deps.sh bench) and builds build/lua5.4 and build/luajit first.
#
#   sh bench/run.sh                 full run (a few minutes)
#   BENCH_QUICK=1 sh bench/run.sh   fewer repetitions, smaller N, no callgrind
#   BENCH_CALLGRIND=0 sh bench/run.sh   skip the callgrind instruction counts
#   BENCH_KEEP=1 sh bench/run.sh        keep the temp dir (nginx logs, outputs)
#   BENCH_SHELL="cmd" sh bench/run.sh   run cmd (with $URL, $T) against the server instead
#
# Starts nginx (Debian) on a free loopback port with a config written into a temp
# dir, builds the raw C libcurl baseline, then bench/bench.lua runs every client
# interleaved and prints the table. Only loopback traffic.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
NGINX_MODULES=${NGINX_MODULES:-/usr/lib/nginx/modules}
[ -x "$NGINX" ] || { echo "bench: nginx not found (apt-get install nginx)" >&2; exit 1; }
# njs answers the list endpoint (libnginx-mod-http-lua is not an option: it
# conflicts with Debian's luajit package). Without njs the waits part prints n/a.
HAVE_NJS=1
if [ ! -f "$NGINX_MODULES/ngx_http_js_module.so" ]; then
  HAVE_NJS=0
  echo "bench: $NGINX_MODULES/ngx_http_js_module.so missing (apt-get install libnginx-mod-http-js):" \
    "the 1,000-waits part will print n/a" >&2
fi

T=$(mktemp -d /tmp/mj-bench.XXXXXX)
chmod 755 "$T"
cleanup() {
  if [ -f "$T/nginx.pid" ]; then
    kill "$(cat "$T/nginx.pid")" 2>/dev/null || true
    i=0
    while [ -f "$T/nginx.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$T/www" "$T/logs" "$T/tmp" "$T/out"
lua5.4 bench/fixtures.lua "$T/www"
# 64 MiB of incompressible bytes for the download benchmark
head -c 67108864 /dev/urandom > "$T/www/big.bin"

PORT=$(lua5.4 -e 'local s = require("socket"); local t = assert(s.bind("127.0.0.1", 0));
  local _, p = t:getsockname(); t:close(); print(p)')

echo IN_PROGRESS > "$T/www/state"
cat > "$T/bench.js" <<EOF
// POST /mj/task/list-by-condition: answers the requested ids with the task
// template; the status comes from $T/www/state (written by bench/waits.lua).
var fs = require('fs');
function list(r) {
  var st = 'IN_PROGRESS';
  try { st = fs.readFileSync('$T/www/state', 'utf8').trim(); } catch (e) {}
  var tpl = fs.readFileSync('$T/www/task_tpl.json', 'utf8')
    .replace('@STATUS@', st).replace('@PROGRESS@', st === 'SUCCESS' ? '100%' : '45%');
  var ids = (r.requestText || '').match(/"[0-9]+"/g) || [];
  var out = [];
  for (var i = 0; i < ids.length; i++) out.push(tpl.split('@ID@').join(ids[i].slice(1, -1)));
  r.headersOut['Content-Type'] = 'application/json';
  r.return(200, '[' + out.join(',') + ']');
}
export default { list };
EOF

cat > "$T/nginx.conf" <<EOF
daemon on;
master_process on;
worker_processes 1;
worker_rlimit_nofile 8192;
user root root;
pid $T/nginx.pid;
error_log $T/logs/error.log warn;
$( [ $HAVE_NJS = 1 ] && echo "load_module $NGINX_MODULES/ngx_http_js_module.so;" )
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $T/tmp/body;
  proxy_temp_path $T/tmp/proxy;
  fastcgi_temp_path $T/tmp/fastcgi;
  uwsgi_temp_path $T/tmp/uwsgi;
  scgi_temp_path $T/tmp/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  sendfile on;
  tcp_nodelay on;
  etag off;
  $( [ $HAVE_NJS = 1 ] && echo "js_import bench from $T/bench.js;" )
  server {
    listen 127.0.0.1:$PORT backlog=4096;
    root $T/www;
    default_type application/json;

    # GET /mj/task/{id}/fetch -> the static SUCCESS task (same bytes for every id)
    location ~ ^/mj/task/[0-9]+/fetch\$ { try_files /task.json =404; }

    # POST /mj/task/list-by-condition {"ids":[...]} -> the requested tasks;
    # one access-log line per request (the API-economy count)
    location = /mj/task/list-by-condition {
      client_body_buffer_size 256k;
      client_max_body_size 1m;
      access_log $T/logs/list.log;
      $( [ $HAVE_NJS = 1 ] && echo "js_content bench.list;" || echo "return 501;" )
    }

    # the static 1,000-task list; POST answered by the error_page trick
    location = /list1000.json { error_page 405 =200 \$uri; }

    # 64 MiB download
    location = /mj/image/big { default_type image/png; try_files /big.bin =404; }
  }
}
EOF

"$NGINX" -p "$T" -c "$T/nginx.conf" -e "$T/logs/error.log" || {
  cat "$T/logs/error.log" >&2
  exit 1
}
URL="http://127.0.0.1:$PORT"
i=0
until curl -fs -o /dev/null "$URL/mj/task/1/fetch"; do
  i=$((i + 1))
  [ $i -lt 50 ] || { echo "bench: nginx did not answer" >&2; cat "$T/logs/error.log" >&2; exit 1; }
  sleep 0.1
done

# snapshot the library (others may rebuild build/ while we run)
cp -R lua "$T/lua"
for l in lua5.4 luajit; do
  if [ -f "build/$l/midjourney/core.so" ]; then
    mkdir -p "$T/cpath/$l/midjourney"
    cp "build/$l/midjourney/core.so" "$T/cpath/$l/midjourney/core.so"
    if [ -f "build/$l/midjourney/image_core.so" ]; then
      cp "build/$l/midjourney/image_core.so" "$T/cpath/$l/midjourney/image_core.so"
    fi
  fi
done

CC=${CC:-cc}
# shellcheck disable=SC2046
$CC -O2 -o "$T/raw" bench/raw.c $(pkg-config --cflags --libs libcurl 2>/dev/null || echo -lcurl)

if [ -n "${BENCH_SHELL:-}" ]; then URL=$URL T=$T sh -c "$BENCH_SHELL"; else BENCH_HAVE_NJS=$HAVE_NJS lua5.4 bench/bench.lua "$URL" "$T" "$ROOT"; fi
