"""Every Stream Engine setting, with its default.

Override a setting in ``config/local.py`` (untracked; same syntax as this file) or with an
environment variable ``STREAM_ENGINE_<KEY>`` (parsed as a Python literal when it looks like one,
else taken as a string). Environment variables win over ``config/local.py``, which wins over this
file. Only UPPER_CASE names are settings. A setting with a bad value stops the server at start
with a message naming it.
"""

# -- storage -------------------------------------------------------------------------------------

# Storage backend: "embedded" (a local database file, zero set-up) or "cassandra".
STORE = "embedded"

# Folder of the embedded store; relative paths are relative to the repository root.
DATA_DIR = "data"

# -- preload dictionary --------------------------------------------------------------------------

# Folder holding the preload CSVs (upstream schema). Relative to the repository root.
PRELOAD = "preload_database"

# -- server --------------------------------------------------------------------------------------

# Address the server binds to (host:port) when started by manage-streamng or `stream-engine serve`.
BIND = "127.0.0.1:12576"

# Number of gunicorn worker processes and threads per worker (gthread workers).
WORKERS = 2
THREADS = 16

# Seconds a client may stop reading a response before the server drops the connection.
SEND_TIMEOUT = 60

# Responses one client address may have in progress in each worker process (more get 429,
# Retry-After); keeps one client from taking every thread. 0: no bound. /health is exempt.
MAX_CLIENT_REQUESTS = 4

# Idle connections (kept alive, or opened and not used yet) one client address may hold in each
# worker process; a new connection beyond it closes that client's oldest idle one, so one client
# cannot fill the worker's 1000 connections. 0: no bound.
MAX_CLIENT_IDLE_CONNECTIONS = 32

# glibc malloc arenas per worker process (0: glibc's default, 8 per core). The worker's threads
# share them; with the default, memory freed by one thread's numpy buffers stays in its own arena
# and a worker's resident memory kept growing under load (benchmarks/load.py, caches off: +70 MiB
# per worker in 4 minutes, still rising; with 2: flat after 2 minutes).
MALLOC_ARENAS = 2

# When a worker process gives freed memory back to the system (glibc malloc; 0 and 0: glibc's
# own policy, thresholds it moves at run time between 128 KiB and 32 MiB). An allocation of
# MALLOC_MMAP_THRESHOLD bytes or more (at most 32 MiB) gets a mapping of its own, returned when
# freed; free memory at the top of a heap is returned once it exceeds MALLOC_TRIM_THRESHOLD
# bytes. Set both or neither. With glibc's policy a worker gave back, after each large response,
# much of the memory it worked in (blocks, windows, store reads) and faulted it in again on the
# next; with 8 MiB / 64 MiB it keeps it (benchmarks/dap_malloc.py, cold 10M .dods on a worker
# that had served before: 1.5-2.8x fewer page faults, 2-7% less CPU, ~10-25 MiB more resident
# memory per worker; a worker's first request is unchanged).
MALLOC_MMAP_THRESHOLD = 8 * 1024 * 1024
MALLOC_TRIM_THRESHOLD = 64 * 1024 * 1024

# Public base URL used in links and catalog pages; empty means "derive from the request".
BASE_URL = ""

# Folder searched before templates/ for the catalog's page templates (an operator's overrides of
# base.html, stream.html, _*.html partials ...); empty means none.
TEMPLATE_OVERRIDE_DIR = ""

# Quick-look plots: points drawn (decimated on the server with min-max + LTTB), and the most
# records of a computed product evaluated for one plot (evenly strided beyond that).
PLOT_POINTS = 2000
PLOT_COMPUTE_RECORDS = 200_000

# Folder for logs (stream_engine.error.log, stream_engine.access.log); relative to the repository root.
LOG_DIR = "logs"

# Log level for the error log: DEBUG, INFO, WARNING, ERROR.
LOG_LEVEL = "INFO"

# Pid file used by manage-streamng; relative to the repository root.
PID_FILE = "stream_engine.pid"

# Folder for asynchronous export jobs; relative to the repository root. Several servers over one
# Cassandra keyspace must share it (NFS or similar): any of them serves any job's files.
ASYNC_DIR = "async"

# -- Apache Cassandra backend --------------------------------------------------------------------

# Contact points of the Cassandra cluster (host or host:port strings).
CASSANDRA_HOSTS = ["127.0.0.1"]

# Native protocol port used for contact points that do not name one.
CASSANDRA_PORT = 9042

# Keyspace holding one table per stream (the OOI layout).
CASSANDRA_KEYSPACE = "ooi"

# Consistency level for reads and writes (a cassandra-driver ConsistencyLevel name).
CASSANDRA_CONSISTENCY = "LOCAL_QUORUM"

# Native protocol version: 5 for Cassandra 4.0 and later, 4 for 3.x; None lets the driver negotiate
# (it starts above what the server speaks and logs a warning on every new connection).
CASSANDRA_PROTOCOL_VERSION = 5

# Seconds to wait for a connection and for a query.
CASSANDRA_CONNECT_TIMEOUT = 10
CASSANDRA_QUERY_TIMEOUT = 60

# Number of per-bin queries (and per-partition write batches) run concurrently.
CASSANDRA_CONCURRENCY = 16

# Replication of the keyspace when `stream-engine cassandra schema --apply` creates it.
CASSANDRA_REPLICATION = {"class": "SimpleStrategy", "replication_factor": 1}

# Rows per result page (reads) and rows per unlogged batch to one partition (writes). Pages of
# 50,000 rows made a node with a 512 MB heap thrash in garbage collection; 5,000 keep it steady.
CASSANDRA_FETCH_SIZE = 5000
CASSANDRA_BATCH_ROWS = 500
# When the OOI rows (one CQL row per record, the layout OOI's tools read) are written. Writes
# always keep each bin as column chunks: what Stream Engine reads, the store of record, visible
# and durable when the write returns. The rows are an interchange mirror:
#   "background"  (default) ingest writes the chunks only; the server's row deriver (one at a
#                 time across all servers, under a lease) writes the rows soon after, a bounded
#                 slice at a time. `stream-engine cassandra derive-rows --status` and /health
#                 ("rows") show the bins and records whose rows are still pending.
#   "with-ingest" every write also writes its records' rows (ingest ~10x slower: the cluster
#                 spends ~30 us of CPU per row); rows left pending earlier are derived as above.
#   "off"         no rows unless `stream-engine cassandra derive-rows` is run.
# (Replaces CASSANDRA_WRITE_ROWS: True is "with-ingest", False is "background" or "off".)
CASSANDRA_ROWS = "background"
# The background row deriver: records whose rows it writes per turn, then it pauses for this
# share of the turn's time (0.5: at most 2/3 of the time deriving) so requests keep the cluster;
# seconds a deriver's lease lasts without renewal (another server takes over after that when
# its holder dies), and seconds between looks for new work while idle.
CASSANDRA_ROWS_BATCH = 5000
CASSANDRA_ROWS_PAUSE = 0.5
CASSANDRA_ROWS_LEASE_SECONDS = 30
CASSANDRA_ROWS_POLL_SECONDS = 2.0

# -- queries and products ------------------------------------------------------------------------

# Records of a deployment with asset events are served only inside its time window, always.
# REQUIRE_DEPLOYMENT = True also excludes records of deployments that have no asset events (the
# original engine's require_deployment); False serves them, with products that need
# calibrations or a location missing. DAP keeps excluded records in `obs`, every variable but
# time and deployment missing; the JSON API and exports drop them.
REQUIRE_DEPLOYMENT = False

# Depth window (metres) for finding co-located instruments on the same subsite.
MAX_DEPTH_VARIANCE = 6.0

# Largest gap (seconds) across which an external input is interpolated; wider gaps give fill.
MAX_INTERPOLATION_GAP = 3600.0

# Start of an unbounded query (NTP seconds; 2010-01-01T00:00:00Z).
UNBOUND_QUERY_START = 3471292800.0

# Most records a query may ask for with "limit" (the original engine's UI_HARD_LIMIT); a larger
# limit is answered 413. A query without a limit returns every record, streamed.
UI_HARD_LIMIT = 20000

# Records computed and written per chunk of a JSON or export response (bounds their memory).
QUERY_CHUNK_RECORDS = 65536

# Records per second /estimate assumes a response is produced at (measured by benchmarks/api.py).
ESTIMATE_RECORDS_PER_SECOND = 250_000

# Bytes of recently computed product arrays each worker process may keep for reuse (0 turns it off).
# A worker's memory ceiling is about 200 MiB (code, dictionary, responses in progress under
# benchmarks/load.py) + COMPUTE_CACHE_BYTES + DAP_CACHE_BYTES: about 520 MiB with the defaults.
COMPUTE_CACHE_BYTES = 256 * 1024 * 1024

# -- OPeNDAP (DAP2) ------------------------------------------------------------------------------

# Largest .dods response (bytes); larger requests get a 413 DAP error suggesting a smaller slice
# (TDS binLimit is 500 MB, ERDDAP 490 MB). The estimated .ascii size is held to the same cap.
DAP_MAX_RESPONSE_BYTES = 500_000_000

# Block size (bytes) in which lazy DAP variables are read and streamed (1-8 MB measured best).
DAP_BLOCK_BYTES = 4 * 1024 * 1024

# Memory (bytes) each worker may hold of computed DAP product windows: later variables of one
# .dods response and repeated requests reuse them until the store changes (0 turns it off).
DAP_CACHE_BYTES = 64 * 1024 * 1024

# Disk (bytes) that computed DAP product windows may take in the embedded store's folder
# (dap-windows/ beside the database, one file per ~4 MiB of windows), shared by all worker processes, so a
# repeat served by another worker is not computed again (0 turns it off). A worker's own cache
# (DAP_CACHE_BYTES) then keeps views of those files rather than copies in its memory.
DAP_SHARED_CACHE_BYTES = 512 * 1024 * 1024

# Records per DAP computation window (bounds the algorithms' float64 temporaries, ~150 B/record:
# ~19 MiB per compute thread). 131,072 measured best for the cold 10M CTD products over HTTP:
# 2 compute threads 5% (density) and 14% (salinity) faster than 65,536, less CPU, +5 MiB peak.
DAP_COMPUTE_RECORDS = 131072

# Threads computing DAP product windows of one request side by side (1: one window at a time,
# the store reads of the next windows, across blocks too, then done ahead on a reader thread of the
# process, at most one block ahead). With
# more, a response's windows are computed side by side in order across its blocks
# (DAP_BLOCK_BYTES), up to one block's windows ahead, so the next block is computed while the
# current one is sent: a response holds about one block more than the one it sends.
DAP_COMPUTE_THREADS = 2

# -- exports and asynchronous jobs ---------------------------------------------------------------

# Export jobs running at once on one server (each in its own process).
JOB_PROCESSES = 2

# Export jobs queued or running at once; more are refused (429) until one finishes.
JOB_MAX_ACTIVE = 20

# Records above which an export job is cut into time-slice sub-jobs run side by side, and the
# number of processes one job runs them with.
JOB_SPLIT_RECORDS = 5_000_000
JOB_SUBJOB_PROCESSES = 2

# Seconds a finished export job and its files are kept before they are removed.
JOB_RETENTION_SECONDS = 7 * 24 * 3600
