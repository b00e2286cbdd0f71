# Sourced by setup.sh and setup-tests.sh: install_packages NAME... installs the Debian
# packages among NAME... that are not installed yet (root or sudo), quietly; with
# NO_RECOMMENDS=1, without their recommended packages.
install_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: system packages present ($*)"
    return 0
  fi
  echo "setup: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  local flags=()
  [ "${NO_RECOMMENDS:-0}" = 1 ] && flags+=(--no-install-recommends)
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${flags[@]}" "${missing[@]}" >/dev/null
  echo "setup: done"
}
