#!/usr/bin/env bash
# The README's main command: builds rollcall, then `rollcall demo` starts a whole
# province on this machine — a province node, two universities, two colleges each, two
# branches each (15 real `rollcall-node` processes with their own keys, mutual TLS and
# RocksDB stores, each enrolled by its parent through the real flow) — loads a generated
# province (320 members with realistic audit histories, disposition cases at every stage
# of the procedure, each step taken by the level that owns it) through the nodes' APIs,
# lets a branch secretary's laptop work offline and reconcile, prints the tables and the
# deadlines, and keeps the nodes running until Ctrl-C, which stops every one of them.
#
# Environment: DEMO_DIR (default target/demo), DEMO_SIZE (toy | demo | province).
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/setup.sh
echo "demo: building (the first build takes a few minutes)"
cargo build --bins --quiet
exec target/debug/rollcall demo --dir "${DEMO_DIR:-target/demo}" --size "${DEMO_SIZE:-demo}" "$@"
