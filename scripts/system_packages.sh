#!/usr/bin/env bash
# Install the Debian packages the test suite uses, if any is missing (needs root and apt-get;
# elsewhere it says what to install and exits 0, and the tests that need them say why they skip).
set -euo pipefail
PACKAGES=(chromium opencv-doc espeak-ng)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
  echo "system_packages.sh: missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 0
fi
echo "system_packages.sh: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
