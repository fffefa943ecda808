#!/usr/bin/env bash
# What the tests need from the machine: PostgreSQL answering at the test URL (started if installed but stopped), and
# the redis-server program. The tests start their own private redis-server on a free port; no shared Redis is started
# or used here, so a Redis with real data on this machine is never touched.
set -euo pipefail
PG_HOST=127.0.0.1 PG_PORT=5432

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "PostgreSQL not answering; starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 30); do pg_up && break; sleep 1; done
  fi
  pg_up || { echo "ERROR: PostgreSQL is not reachable at $PG_HOST:$PG_PORT and could not be started (install postgresql)." >&2; exit 1; }
fi

command -v redis-server >/dev/null || {
  echo "ERROR: redis-server is not installed; the tests start their own private Redis with it (install redis-server)." >&2
  exit 1
}
echo "services: PostgreSQL is up; redis-server is installed (the tests start their own)"

# Headless Chromium: the run report's browser test loads the page in it. Installed here (never by a test) where apt
# can; elsewhere that test skips with the reason, and fails under CI=true.
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium (headless browser for the report test)"
    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
      || echo "WARNING: could not install chromium; the report's browser test will skip (fail under CI)" >&2
  else
    echo "WARNING: chromium not found (apt-get install chromium); the report's browser test will skip (fail under CI)" >&2
  fi
fi
