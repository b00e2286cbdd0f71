#!/usr/bin/env bash
# The README's main command: builds rollcall, starts a province node on this machine
# with real TLS and a real RocksDB store, appends sample audit events for three branches
# through the node's API, shows the heads, verifies the store, and keeps the node running
# until Ctrl-C (which stops it cleanly, leaving nothing running).
#
# Environment: DEMO_DIR (default target/demo), DEMO_MEMBERS (members per branch, default 300).
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/setup.sh
echo "demo: building (first build takes a few minutes)"
cargo build --bins --quiet

bin=target/debug
demo=${DEMO_DIR:-target/demo}
members=${DEMO_MEMBERS:-300}
rm -rf "$demo"
mkdir -p "$demo"

"$bin/rollcall-node" init --dir "$demo/hb" --unit hb --level province --listen 127.0.0.1:0 >/dev/null
"$bin/rollcall-node" run --dir "$demo/hb" >"$demo/hb.out" 2>"$demo/hb.log" &
node_pid=$!
cleanup() {
  if kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'echo; echo "demo: stopping"; exit 0' INT TERM

# Wait for the node to listen (it writes node.addr once bound), with a deadline.
for _ in $(seq 1 300); do
  [ -s "$demo/hb/node.addr" ] && break
  kill -0 "$node_pid" 2>/dev/null || { cat "$demo/hb.log"; echo "demo: node exited"; exit 1; }
  sleep 0.1
done
[ -s "$demo/hb/node.addr" ] || { echo "demo: node did not start"; exit 1; }
echo "demo: province node listening on $(cat "$demo/hb/node.addr") (mutual TLS)"

for branch in hb/whu/cs/b01 hb/whu/cs/b02 hb/hust/me/b01; do
  "$bin/rollcall" append-sample --node-dir "$demo/hb" --unit "$branch" --members "$members" --seed "${#branch}"
done
"$bin/rollcall" heads --node-dir "$demo/hb"
"$bin/rollcall" verify --dir "$demo/hb"

echo
echo "demo: the node keeps running; try:"
echo "  $bin/rollcall heads --node-dir $demo/hb --lang en"
echo "  $bin/rollcall append-sample --node-dir $demo/hb --unit hb/whu/cs/b03 --members 50"
echo "demo: press Ctrl-C to stop"
wait "$node_pid"
