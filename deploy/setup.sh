#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test rollcall:
#   librocksdb-dev  RocksDB 7.8 as a system library (building RocksDB from C++ source
#                   takes 25-45 minutes on 2 cores; see .cargo/config.toml)
#   libclang-dev    bindgen needs it for the RocksDB bindings
#   chromium, chromium-driver, fonts-wqy-microhei  the headless browser test of the
#                   dashboard (and a CJK font for its screenshot)
# Idempotent: installs only what is missing. Needs root (or sudo) the first time.
set -euo pipefail

packages=(librocksdb-dev libclang-dev chromium chromium-driver fonts-wqy-microhei)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: system packages present (${packages[*]})"
  exit 0
fi
echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
echo "setup: done"
