#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what rcufree needs from Debian 12's packages, only if something is missing; extra
# package names given as arguments are installed too (scripts/bench.sh: the preloaded allocators).
# Run as root (or with sudo available). Idempotent and quiet when all is there.
set -euo pipefail

packages=(build-essential cmake pkg-config liburcu-dev libboost-dev catch2 libbenchmark-dev
          libck-dev valgrind gnuplot-nox "$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "rcufree setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
