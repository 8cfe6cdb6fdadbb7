#!/usr/bin/env bash
# Start the machine's PostgreSQL (installing it with apt-get if absent) and print a URL for the tests.
# The tests create and drop a database of their own per test; this role may create databases.
set -euo pipefail
exec 3>&1 1>&2  # everything but the URL goes to stderr
if ! command -v pg_ctlcluster >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$version main"; then pg_createcluster "$version" main >&2 3>&-; fi
# A server killed with its session leaves lock files whose PID another process may now hold; a cluster
# that is down has no live server, so its locks are stale.
if pg_lsclusters -h | grep -q "^$version main .* down "; then
  rm -f /var/run/postgresql/.s.PGSQL.*.lock "/var/lib/postgresql/$version/main/postmaster.pid"
fi
# 3>&-: the server must not inherit the descriptor that carries the URL, or $(...) waits for it forever.
pg_ctlcluster "$version" main start 2>/dev/null 3>&- || true
for _ in $(seq 30); do pg_isready -q && break; sleep 1; done
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='faceledger'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE faceledger LOGIN CREATEDB PASSWORD 'faceledger'\"" >&2
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='faceledger'\"" | grep -q 1 ||
  su postgres -c "createdb -O faceledger faceledger" >&2
echo "postgresql+psycopg://faceledger:faceledger@127.0.0.1:5432/faceledger" >&3
