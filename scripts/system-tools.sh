#!/usr/bin/env bash
# The system tools `make test` needs beyond the Rust toolchain: rustfmt and clippy (rustup
# components), `kill` (procps, used by the run test), Debian's Chromium (the report's
# browser check; no test downloads a browser of its own) and, as root, iproute2 (the link check)
# and the gateways nginx and HAProxy (their tests skip, saying so, where they are missing).
#
# Installs what is missing when it can (rustup for the components; apt-get when running as
# root), otherwise stops with one line naming the exact command to run. Does nothing, and
# reaches no registry, when everything is already there.
set -euo pipefail

if ! cargo fmt --version >/dev/null 2>&1; then rustup component add rustfmt; fi
if ! cargo clippy --version >/dev/null 2>&1; then rustup component add clippy; fi

chromium="${CHROMIUM:-/usr/bin/chromium}"
missing=()
command -v kill >/dev/null 2>&1 || missing+=(procps)
[ -x "$chromium" ] || missing+=(chromium)
# The link check (interop/linkcheck.py) runs as root only, and needs iproute2's `ip`.
if [ "$(id -u)" = 0 ]; then
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  [ -x /usr/sbin/nginx ] || missing+=(nginx)
  [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)
  [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "missing: ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}" >&2
exit 1
