#!/usr/bin/env bash
# Restores a node from a backup made by deploy/backup.sh into a new node directory,
# verifies every signature and chain of the restored store, and leaves the node ready
# to run (`rollcall-node run --dir NODE_DIR`): it rebuilds its projections from the log
# when it starts, then syncs with its parent as usual (anything newer above comes down;
# what it held from others before the loss, its children re-send). A backup taken
# while the node ran is older than the node's own log if the node signed anything
# after it: restoring it is safe only if it did not (deploy/README.md, "Backup and
# restore"), and this script says so.
#
#   deploy/restore.sh BACKUP_DIR NODE_DIR
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: $0 BACKUP_DIR NODE_DIR" >&2; exit 2; fi
backup=$1
node=$2
root="$(cd "$(dirname "$0")/.." && pwd)"
# The newer of the release and debug builds, unless ROLLCALL_BIN says otherwise.
if [ -z "${ROLLCALL_BIN:-}" ]; then
  ROLLCALL_BIN=$root/target/debug
  if [ "$root/target/release/rollcall" -nt "$root/target/debug/rollcall" ]; then ROLLCALL_BIN=$root/target/release; fi
fi
bin=$ROLLCALL_BIN
[ -f "$backup/rollcall.toml" ] && [ -d "$backup/store" ] || { echo "restore: $backup is not a backup" >&2; exit 2; }
[ -e "$node" ] && { echo "restore: $node exists; restore into a new directory" >&2; exit 2; }
mkdir -p "$node"
chmod 700 "$node"
for file in rollcall.toml replica.key replica.pub operator.key enrollment.chain stock-tls.pem; do
  if [ -f "$backup/$file" ]; then cp -p "$backup/$file" "$node/"; fi
done
chmod 600 "$node/replica.key" "$node/operator.key"
if [ -f "$node/stock-tls.pem" ]; then chmod 600 "$node/stock-tls.pem"; fi
cp -a "$backup/store" "$node/store"
"$bin/rollcall" verify --dir "$node" >/dev/null
echo "restore: done, verified: $node"
if [ -f "$backup/taken-while-running" ]; then
  taken=$(cat "$backup/taken-while-running")
  echo "restore: WARNING: this backup was taken while the node ran ($taken). If the node signed events after that (receipts, findings, anything recorded), the restored node will sign different events at the same seqs and its peers will quarantine it: see deploy/README.md, \"Backup and restore\"." >&2
  echo "restore: 警告：此备份在节点运行时制作（$taken）。若节点此后又签署过事件（回执、发现、任何记录），恢复后的节点会在相同序号签署不同事件，被上下级节点隔离。详见 deploy/README.md「Backup and restore」。" >&2
fi
