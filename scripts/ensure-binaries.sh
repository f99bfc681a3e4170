#!/usr/bin/env bash
# Make sure the real services the tests use are installed: redis-server, prometheus, promtool,
# prometheus-alertmanager, chromium, faketime, node and npm (tsc checks the dashboards against Grafana's
# schema). As root, missing ones are installed from Debian's packages; otherwise we print exactly what to install and fail (tests never skip a missing service).
set -euo pipefail

declare -A PACKAGE_OF=(
  [redis-server]=redis-server
  [prometheus]=prometheus
  [promtool]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager
  [chromium]=chromium
  [openssl]=openssl
  [faketime]=faketime  # libfaketime: processes with a skewed clock (tests/e2e/test_clock_skew.py)
  [node]=nodejs        # with npm: `make test` installs tools/grafana-schema (npm ci) for the dashboard schema test
  [npm]=npm
)

missing_pkgs=()
for bin in "${!PACKAGE_OF[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing_pkgs+=("${PACKAGE_OF[$bin]}")
done
[ ${#missing_pkgs[@]} -eq 0 ] && exit 0
mapfile -t missing_pkgs < <(printf '%s\n' "${missing_pkgs[@]}" | sort -u)

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing missing packages: ${missing_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
  # Debian starts the packaged daemons; the tests start their own on free ports instead.
  for svc in prometheus prometheus-alertmanager; do
    (service "$svc" stop || pkill -x "$svc") >/dev/null 2>&1 || true
  done
  exit 0
fi

echo "missing binaries needed by the tests; install them with:" >&2
echo "  sudo apt-get install ${missing_pkgs[*]}" >&2
exit 1
