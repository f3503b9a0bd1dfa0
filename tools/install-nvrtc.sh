#!/usr/bin/env bash
# Installs NVRTC 11.8 (Debian bookworm non-free: libnvrtc11.2 + libnvrtc-builtins11.8, ~62 MB) so that
# kernels/*.cu can be compiled to CUBIN for sm_86/sm_90 on machines without a GPU or driver.
# Idempotent; run as root (CI does). Adds contrib/non-free as a second apt sources file derived from
# the existing /etc/apt/sources.list.d/debian.sources, so the same mirror and keyring are used and
# no host name is written here. See /work/shared/reference/cuda-interop.md §1.
set -euo pipefail

pkg=libnvrtc11.2
src_dir=/etc/apt/sources.list.d
base=$src_dir/debian.sources
extra=$src_dir/debian-nonfree.sources

if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
  echo "install-nvrtc: $pkg is already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-nvrtc: must run as root (apt-get install $pkg)" >&2
  exit 1
fi
if [ ! -f "$extra" ]; then
  if [ ! -f "$base" ]; then
    echo "install-nvrtc: $base not found; add a 'contrib non-free' source for bookworm by hand" >&2
    exit 1
  fi
  # The stanza with the main suites (not -security), with its components swapped for contrib non-free.
  awk 'BEGIN{RS="";ORS="\n\n"} /Suites: bookworm bookworm-updates/' "$base" \
    | sed 's/^Components: main$/Components: contrib non-free/' > "$extra.tmp"
  if ! grep -q '^Components: contrib non-free$' "$extra.tmp"; then
    rm -f "$extra.tmp"
    echo "install-nvrtc: could not derive a non-free source from $base (no 'Suites: bookworm bookworm-updates' stanza with 'Components: main')" >&2
    exit 1
  fi
  mv "$extra.tmp" "$extra"
  echo "install-nvrtc: wrote $extra"
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg"
echo "install-nvrtc: installed $(dpkg-query -W -f='${Package} ${Version}' "$pkg")"
