#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and run rollcall (the demo needs
# nothing more):
#   librocksdb-dev  RocksDB 7.8 as a system library (building RocksDB from C++ source
#                   takes 25-45 minutes on 2 cores; see .cargo/config.toml)
#   libclang-dev    bindgen needs it for the RocksDB bindings
# The tests' own tools are installed by deploy/setup-tests.sh.
# Idempotent: installs only what is missing. Needs root (or sudo) the first time.
set -euo pipefail
source "$(dirname "$0")/install-packages.sh"
install_packages librocksdb-dev libclang-dev
