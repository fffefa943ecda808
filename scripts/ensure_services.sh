#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer at the test URLs; start them if installed but stopped; fail clearly if missing.
set -euo pipefail
PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_PORT=6379

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "PostgreSQL not answering; starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 30); do pg_up && break; sleep 1; done
  fi
  pg_up || { echo "ERROR: PostgreSQL is not reachable at $PG_HOST:$PG_PORT and could not be started (install postgresql)." >&2; exit 1; }
fi

if ! redis_up; then
  if command -v redis-server >/dev/null; then
    echo "Redis not answering; starting it"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no
    for _ in $(seq 30); do redis_up && break; sleep 0.5; done
  fi
  redis_up || { echo "ERROR: Redis is not reachable at 127.0.0.1:$REDIS_PORT and could not be started (install redis-server)." >&2; exit 1; }
fi
echo "services: PostgreSQL and Redis are up"

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
