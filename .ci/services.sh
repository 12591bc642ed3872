#!/usr/bin/env bash
# Start the real services the tests use, on loopback, and print the environment for them.
# Used by .ci/run; also handy on a developer machine:  eval "$(bash .ci/services.sh)"
set -euo pipefail

PG_PORT=${PG_PORT:-55432}
MQTT_PORT=${MQTT_PORT:-18830}
RUN_DIR=${RUN_DIR:-/tmp/commonworks-services}
mkdir -p "$RUN_DIR"
chmod 777 "$RUN_DIR"

# PostgreSQL: pg_ctl refuses to run as root, so the cluster belongs to the postgres user.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PG_DATA="$RUN_DIR/pg"
if [ ! -f "$PG_DATA/PG_VERSION" ]; then
  install -d -o postgres -g postgres "$PG_DATA"
  su postgres -c "$PG_BIN/initdb -D $PG_DATA -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >&2
fi
if ! su postgres -c "$PG_BIN/pg_ctl -D $PG_DATA status" >/dev/null 2>&1; then
  su postgres -c "$PG_BIN/pg_ctl -D $PG_DATA -l $RUN_DIR/pg.log -w \
    -o '-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200' start" >&2
fi

# Mosquitto on loopback (for the connect/telemetry tests).
if command -v mosquitto >/dev/null 2>&1; then
  cat > "$RUN_DIR/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
CONF
  if ! (exec 3<>/dev/tcp/127.0.0.1/$MQTT_PORT) 2>/dev/null; then
    mosquitto -c "$RUN_DIR/mosquitto.conf" -d
  fi
  echo "export COMMONWORKS_TEST_MQTT_URL=mqtt://127.0.0.1:$MQTT_PORT"
fi

echo "export COMMONWORKS_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres"
