#!/usr/bin/env bash
# Restores a node from a backup made by deploy/backup.sh into a new node directory,
# verifies every signature and chain of the restored store, and leaves the node ready
# to run (`rollcall-node run --dir NODE_DIR`): it rebuilds its projections from the log
# when it starts, then syncs with its parent as usual (anything newer above comes down;
# what it held from others before the loss, its children re-send). A backup may be
# older than the node's own log (the node signed events after it was taken), so the
# restored node is marked as recovering (`rollcall-node recover`): it signs nothing
# until its parent and children (the nodes one level below, the laptops of its unit)
# have sent back what they hold of its log (deploy/README.md, "Backup and restore").
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
"$bin/rollcall-node" --lang en recover --dir "$node" >/dev/null
echo "restore: done, verified: $node"
echo "restore: the node is marked as recovering: once started, it signs nothing until its parent and children (the nodes one level below, the laptops of its unit) have sent back what they hold of its log (rollcall status shows whom it waits for; rollcall-node recover --end stops waiting)."
echo "restore: 节点已标记为恢复中：启动后，在上级和下级（下一级节点、本单位笔记本）送回它此前签署的事件之前不签署任何事件（rollcall status 显示正在等待哪些节点；rollcall-node recover --end 可停止等待）。"
if [ -f "$backup/taken-while-running" ]; then
  taken=$(cat "$backup/taken-while-running")
  echo "restore: WARNING: this backup was taken while the node ran ($taken): the node has most likely signed events after it (receipts, findings, anything recorded). Start it while its parent and children run, and do not end its recovery early: a peer not heard may hold those events, and a second event at one of their seqs gets the node quarantined. See deploy/README.md, \"Backup and restore\"." >&2
  echo "restore: 警告：此备份在节点运行时制作（$taken），节点此后很可能又签署过事件（回执、发现、任何记录）。请在上下级节点运行时启动它，不要提前结束恢复：未连接的节点可能持有这些事件，在相同序号签署不同事件会使本节点被隔离。详见 deploy/README.md「Backup and restore」。" >&2
fi
