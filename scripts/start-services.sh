#!/usr/bin/env bash
# Starts PostgreSQL and MariaDB on this machine when they are not running (Debian packages:
# postgresql, mariadb-server). Tests that need them say so and are skipped with a reason when
# they still cannot be reached.
set -u
if ! (echo > /dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  else
    echo "PostgreSQL is not installed: apt-get install postgresql (tests needing it will say they were skipped)"
  fi
fi
if ! (echo > /dev/tcp/127.0.0.1/3306) 2>/dev/null; then
  if [ -x /usr/sbin/mariadbd ]; then
    echo "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    for _ in $(seq 1 30); do (echo > /dev/tcp/127.0.0.1/3306) 2>/dev/null && break; sleep 1; done
  else
    echo "MariaDB is not installed: apt-get install mariadb-server (tests needing it will say they were skipped)"
  fi
fi
exit 0
