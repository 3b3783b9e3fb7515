#!/usr/bin/env bash
# Start one Apache Cassandra node for Stream Engine's tests and benchmarks, from the
# org.apache.cassandra:cassandra-all jars on Maven Central (fetched once with mvn, then cached).
# Idempotent: a node already running in CASS_DIR is reused. Prints the CQL port as the last
# stdout line; progress goes to stderr. Stop it with tools/cassandra/stop.sh (by its pid file).
# Needs Java 11 or 17 (Cassandra 5.0 refuses 21+) and, on first use, mvn.
# Environment (defaults):
#   CASS_VERSION (5.0.9)  CASS_CACHE (~/.cache/stream-engine/cassandra)  CASS_DIR (/tmp/stream-engine-cassandra/node1)
#   CASS_ADDR (127.0.0.1)  CASS_PORT (9042; 0 = a free port)  CASS_STORAGE_PORT (7000)  CASS_SEEDS (ADDR:STORAGE_PORT)
#   CASS_JMX_PORT (7199; empty = off)  CASS_HEAP (512M)  CASS_NUM_TOKENS (8)  CASS_WAIT (240 s)
#   CASS_C1_ONLY (1: C1 JIT only, about twice as fast to start on 2 cores)  CASS_JVM_EXTRA (more JVM flags)
set -euo pipefail
V=${CASS_VERSION:-5.0.9}; CACHE=${CASS_CACHE:-$HOME/.cache/stream-engine/cassandra}; D=${CASS_DIR:-${TMPDIR:-/tmp}/stream-engine-cassandra/node1}
ADDR=${CASS_ADDR:-127.0.0.1}; PORT=${CASS_PORT:-9042}; SPORT=${CASS_STORAGE_PORT:-7000}
SEEDS=${CASS_SEEDS:-$ADDR:$SPORT}; JMX=${CASS_JMX_PORT-7199}; HEAP=${CASS_HEAP:-512M}
log() { echo "[cassandra] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
# a pid is ours only if it is a CassandraDaemon using this dir's config (pid files outlive kill -9)
is_ours() { [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' </proc/"$1"/cmdline | grep -q -- "-Dcassandra.config=file://$D/conf/cassandra.yaml .*CassandraDaemon"; }
PIDFILE=$D/cassandra.pid; PORTFILE=$D/cql.port

if [[ -f $PIDFILE ]] && is_ours "$(cat "$PIDFILE")"; then
  START=0; log "already running (pid $(cat "$PIDFILE"))"
else
  START=1
  # ---- java 11 or 17 (Cassandra 5.0 refuses 21+) ----
  jmajor() { "$1" -XshowSettings:properties -version 2>&1 | awk -F= '/java.specification.version/{gsub(/ /,"",$2);print $2}'; }
  JAVA=""
  for c in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java || true)" /usr/lib/jvm/*17*/bin/java /usr/lib/jvm/*11*/bin/java; do
    [[ -n $c && -x $c ]] || continue
    case "$(jmajor "$c")" in 11|17) JAVA=$c; break;; esac
  done
  [[ -n $JAVA ]] || die "need Java 11 or 17 (apt-get install -y openjdk-17-jre-headless)"
  # ---- jars, cached ----
  LIB=$CACHE/lib-$V
  if [[ ! -f $LIB/.complete ]]; then
    command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"
    log "fetching org.apache.cassandra:cassandra-all:$V and deps from Maven Central"
    mkdir -p "$CACHE/pom"; rm -rf "$LIB.tmp"; t0=$SECONDS
    cat > "$CACHE/pom/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId><artifactId>cassandra-fetch</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies><dependency><groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId><version>$V</version></dependency></dependencies>
</project>
EOF
    mvn -B -q -f "$CACHE/pom/pom.xml" -Dmaven.repo.local="$CACHE/m2" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$LIB.tmp" >"$CACHE/mvn.log" 2>&1 \
      || { tail -30 "$CACHE/mvn.log" >&2; die "maven fetch failed ($CACHE/mvn.log)"; }
    rm -f "$LIB.tmp"/*-osx-* "$LIB.tmp"/*-windows-* "$LIB.tmp"/*aarch_64* "$LIB.tmp"/*riscv64*
    touch "$LIB.tmp/.complete"; rm -rf "$LIB"; mv "$LIB.tmp" "$LIB"
    log "fetched $(ls "$LIB" | wc -l) jars ($(du -sh "$LIB" | cut -f1)) in $((SECONDS - t0)) s"
  fi
  # ---- ports ----
  [[ $PORT == 0 ]] && PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  port_open "$ADDR" "$PORT" && die "CQL port $ADDR:$PORT in use (CASS_PORT=0 picks a free one)"
  port_open "$ADDR" "$SPORT" && die "storage port $ADDR:$SPORT in use (set CASS_STORAGE_PORT)"
  # ---- config ----
  mkdir -p "$D"/{conf,data,commitlog,saved_caches,hints,cdc_raw,logs,triggers}
  cat > "$D/conf/cassandra.yaml" <<EOF
cluster_name: stream-engine-test
num_tokens: ${CASS_NUM_TOKENS:-8}
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters: [{seeds: "$SEEDS"}]
listen_address: $ADDR
rpc_address: $ADDR
storage_port: $SPORT
native_transport_port: $PORT
auto_bootstrap: false
data_file_directories: [$D/data]
commitlog_directory: $D/commitlog
saved_caches_directory: $D/saved_caches
hints_directory: $D/hints
cdc_raw_directory: $D/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 8MiB
memtable_heap_space: 64MiB
memtable_offheap_space: 64MiB
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
auto_snapshot: false
# a test machine is shared and slow: give replicas time before a request fails
read_request_timeout: 20000ms
write_request_timeout: 20000ms
range_request_timeout: 30000ms
request_timeout: 30000ms
materialized_views_enabled: true
sasi_indexes_enabled: true
user_defined_functions_enabled: true
EOF
  cat > "$D/conf/logback.xml" <<'EOF'
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender"><file>${cassandra.logdir}/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder></appender>
  <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">
    <filter class="ch.qos.logback.classic.filter.ThresholdFilter"><level>WARN</level></filter>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder></appender>
  <root level="INFO"><appender-ref ref="FILE"/><appender-ref ref="OUT"/></root>
</configuration>
EOF
  # ---- JVM flags: Cassandra 5.0 conf/jvm-server.options + jvm17-server.options, plus test speedups ----
  OPTS=(-Xms"$HEAP" -Xmx"$HEAP" -Xss256k -ea -da:net.openhft... -XX:+UseThreadPriorities -XX:+UseTLAB
    -XX:+ResizeTLAB -XX:+PerfDisableSharedMem -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1
    -XX:G1HeapRegionSize=16m -XX:MaxGCPauseMillis=300 -XX:+ExitOnOutOfMemoryError -XX:HeapDumpPath="$D/logs"
    -XX:ErrorFile="$D/logs/hs_err_pid%p.log" -Xlog:gc:file="$D/logs/gc.log":time,uptime:filecount=3,filesize=2M
    -Djava.net.preferIPv4Stack=true -Djdk.attach.allowAttachSelf=true
    -Dio.netty.tryReflectionSetAccessible=true -Dio.netty.allocator.useCacheForAllThreads=true -Dio.netty.allocator.maxOrder=11)
  for m in java.base/jdk.internal.misc java.management.rmi/com.sun.jmx.remote.internal.rmi java.rmi/sun.rmi.registry \
           java.rmi/sun.rmi.server java.sql/java.sql java.base/java.lang.ref jdk.unsupported/sun.misc \
           jdk.compiler/com.sun.tools.javac.file jdk.attach/sun.tools.attach; do OPTS+=(--add-exports="$m=ALL-UNNAMED"); done
  for m in java.base/java.lang.module java.base/jdk.internal.loader java.base/jdk.internal.ref java.base/jdk.internal.reflect \
           java.base/jdk.internal.math java.base/jdk.internal.module java.base/jdk.internal.util.jar \
           jdk.management/com.sun.management.internal java.base/sun.nio.ch java.base/java.io java.base/java.lang.reflect \
           jdk.compiler/com.sun.tools.javac java.base/java.lang java.base/java.util java.base/java.nio; do OPTS+=(--add-opens="$m=ALL-UNNAMED"); done
  OPTS+=(-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.test.ignore_sigar=true -Dcassandra.superuser_setup_delay_ms=0
    -Dcassandra.config="file://$D/conf/cassandra.yaml" -Dlogback.configurationFile="file://$D/conf/logback.xml"
    -Dcassandra.logdir="$D/logs" -Dcassandra.storagedir="$D" -Dcassandra.triggers_dir="$D/triggers" -Dcassandra-foreground=yes)
  [[ -n $JMX ]] && OPTS+=(-Dcassandra.jmx.local.port="$JMX")
  [[ ${CASS_C1_ONLY:-1} == 1 ]] && OPTS+=(-XX:TieredStopAtLevel=1)   # ~2x faster start on 2 cores
  # shellcheck disable=SC2206
  [[ -n ${CASS_JVM_EXTRA:-} ]] && OPTS+=($CASS_JVM_EXTRA)
  ulimit -n 100000 2>/dev/null || true
  log "starting Cassandra $V ($JAVA, heap $HEAP) in $D on $ADDR:$PORT"
  echo "$PORT" > "$PORTFILE"; : > "$D/logs/system.log"
  setsid "$JAVA" "${OPTS[@]}" -cp "$LIB/*" org.apache.cassandra.service.CassandraDaemon </dev/null >"$D/logs/stdout.log" 2>&1 &
  echo $! > "$PIDFILE"
fi

# ---- wait until CQL answers ----
PID=$(cat "$PIDFILE"); PORT=$(cat "$PORTFILE"); t0=$SECONDS
until grep -q "Starting listening for CQL clients" "$D/logs/system.log" 2>/dev/null && port_open "$ADDR" "$PORT"; do
  if ! kill -0 "$PID" 2>/dev/null; then
    tail -40 "$D/logs/system.log" "$D/logs/stdout.log" >&2 || true; rm -f "$PIDFILE"
    die "Cassandra exited during startup (logs: $D/logs)"
  fi
  (( SECONDS - t0 > ${CASS_WAIT:-240} )) && { tail -20 "$D/logs/system.log" >&2; die "no CQL on $PORT after ${CASS_WAIT:-240}s (pid $PID left running)"; }
  sleep 0.5
done
(( START )) && log "CQL up on $ADDR:$PORT (pid $PID) after $((SECONDS - t0)) s"
echo "$PORT"
