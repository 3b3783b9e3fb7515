#!/usr/bin/env bash
# Stop the node tools/cassandra/start.sh started in CASS_DIR: TERM to the pid in its pid file, only if
# that pid is this folder's CassandraDaemon; KILL after 30 s. --clean also deletes its data.
set -uo pipefail
CASS_DIR=${CASS_DIR:-${TMPDIR:-/tmp}/stream-engine-cassandra/node1}
PIDFILE=$CASS_DIR/cassandra.pid
if [[ -f $PIDFILE ]]; then
  PID=$(cat "$PIDFILE")
  # only signal it if it really is this dir's CassandraDaemon (pid files outlive reboots/kill -9)
  if [[ -r /proc/$PID/cmdline ]] && tr '\0' ' ' </proc/"$PID"/cmdline | grep -q -- "-Dcassandra.config=file://$CASS_DIR/conf/cassandra.yaml .*CassandraDaemon"; then
    kill -TERM "$PID"
    for _ in $(seq 60); do kill -0 "$PID" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$PID" 2>/dev/null; then
      echo "[cassandra] pid $PID ignored TERM for 30 s, sending KILL" >&2
      kill -KILL "$PID"
    fi
    echo "[cassandra] stopped pid $PID" >&2
  fi
  rm -f "$PIDFILE"
fi
if [[ ${1:-} == --clean ]]; then
  rm -rf "$CASS_DIR"/{data,commitlog,saved_caches,hints,cdc_raw}
fi
exit 0
