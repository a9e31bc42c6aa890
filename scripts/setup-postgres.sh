#!/usr/bin/env bash
# Installs Debian's PostgreSQL server, which the users-db example's tests run on (the test kit's
# startPostgres starts a throwaway one per test file; no cluster of the system's is used). Idempotent:
# does nothing when the kit finds one (POSTGRES_BIN_DIR, postgres on PATH, /usr/lib/postgresql/<v>/bin).
# Run as root, the kit runs PostgreSQL (which refuses root) as the `postgres` user: the package
# creates it; found binaries without it get a system user of that name.
set -euo pipefail

have_postgres() {
  if [ -n "${POSTGRES_BIN_DIR:-}" ]; then return 0; fi
  local bin dir
  if bin=$(command -v postgres); then
    dir=$(dirname "$(readlink -f "$bin")")
    if [ -x "$dir/initdb" ]; then return 0; fi
  fi
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/postgres" ] && [ -x "$dir/initdb" ]; then return 0; fi
  done
  return 1
}

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

if ! have_postgres; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-postgres: no apt-get here; install a PostgreSQL server yourself and put its bin directory on PATH or in POSTGRES_BIN_DIR." >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends postgresql
fi

if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
fi
