#!/usr/bin/env bash
# Backs up one node: its store (a consistent RocksDB checkpoint, taken while the node
# runs if it is running), its configuration, its enrollment chain and its keys.
#
#   deploy/backup.sh NODE_DIR BACKUP_DIR
#
# The backup holds the node's private keys (replica.key, operator.key): keep it as you
# keep the node itself (see deploy/ENROLLMENT.md, "Key custody"). BACKUP_DIR must not
# exist. The store in the backup is verified (every signature and chain) before the
# script says it is done. ROLLCALL_BIN names the directory of the binaries
# (default: the newer of target/release and target/debug).
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: $0 NODE_DIR BACKUP_DIR" >&2; exit 2; fi
node=$1
out=$2
root="$(cd "$(dirname "$0")/.." && pwd)"
# The newer of the release and debug builds, unless ROLLCALL_BIN says otherwise.
if [ -z "${ROLLCALL_BIN:-}" ]; then
  ROLLCALL_BIN=$root/target/debug
  if [ "$root/target/release/rollcall" -nt "$root/target/debug/rollcall" ]; then ROLLCALL_BIN=$root/target/release; fi
fi
bin=$ROLLCALL_BIN
[ -f "$node/rollcall.toml" ] || { echo "backup: $node is not a node directory" >&2; exit 2; }
[ -e "$out" ] && { echo "backup: $out exists" >&2; exit 2; }
mkdir -p "$out"
chmod 700 "$out"
out=$(cd "$out" && pwd)

if [ -s "$node/node.addr" ] && "$bin/rollcall" heads --node-dir "$node" >/dev/null 2>&1; then
  echo "backup: the node is running; taking a checkpoint through its API"
  "$bin/rollcall" backup --node-dir "$node" --out "$out/store"
  # The node may sign events after this checkpoint: restore.sh warns about it.
  date -u +"%Y-%m-%dT%H:%M:%SZ" > "$out/taken-while-running"
else
  echo "backup: the node is stopped; taking a checkpoint of its store"
  "$bin/rollcall" backup --dir "$node" --out "$out/store"
fi
for file in rollcall.toml replica.key replica.pub operator.key enrollment.chain stock-tls.pem; do
  if [ -f "$node/$file" ]; then cp -p "$node/$file" "$out/"; fi
done
"$bin/rollcall" verify --dir "$out/store" >/dev/null
echo "backup: done, verified: $out"
