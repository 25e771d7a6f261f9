#!/usr/bin/env bash
# Installs, with apt-get, every Debian 12 package hindsight needs to build, test and
# benchmark. Idempotent: packages already present are not touched, and apt-get is not
# called at all when nothing is missing.
set -euo pipefail

packages=(
  # build
  cmake g++ make pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libuv1-dev libsqlite3-dev libspdlog-dev libcli11-dev libssl-dev
  libgtest-dev
  # hindsight-worker embeds CPython through pybind11
  pybind11-dev python3-dev
  # test peers: the real app servers and frameworks the end-to-end tests run
  gunicorn python3-django python3-flask python3-pytest python3-pexpect
  # a real browser for the pages hindsight serves or writes
  chromium
  # the tools `hindsight export` writes for, run by the export tests
  curl python3-requests
  # benchmark baselines
  nginx wrk
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
else
  sudo=
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
