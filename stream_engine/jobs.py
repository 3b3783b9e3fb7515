"""Asynchronous export jobs: submitted by any server node, run outside the request threads.

A job is a record in the store (:meth:`~stream_engine.store.base.Store.put_job` and friends), so
every node sharing the store answers for it, plus a folder ``<ASYNC_DIR>/jobs/<id>/`` holding
its files (shared storage when there are several nodes). Its life:

``queued``
    :func:`submit` checked the request (bad requests never become jobs) and the limit on active
    jobs (``JOB_MAX_ACTIVE``: more is 429), and stored the record.
``running``
    :func:`dispatch` atomically claims queued jobs while fewer than ``JOB_PROCESSES`` run
    (:meth:`~stream_engine.store.base.Store.claim_job`) and starts one runner process per job
    (``python -m stream_engine.jobs <id>``) in its own session: it is no child of a web worker,
    so a client going away, a worker restart or ``manage-streamng reload`` leave it running.
    The runner writes progress after every chunk of records. A job over ``JOB_SPLIT_RECORDS``
    records is cut into time-slice sub-jobs run by ``JOB_SUBJOB_PROCESSES`` processes and
    merged per deployment (:mod:`stream_engine.outputs.split`), as the original's pipeline did
    with ``/aggregate``.
``complete`` / ``failed``
    the file list with sizes, or the reason. A finishing runner dispatches the next queued job.

:func:`cancel` (``DELETE /jobs/{id}``) removes the record first: the runner notices at its next
slice (its progress update finds no record), stops and removes its files; the folder is also
removed at once and the runner signalled when it runs on this host. Finished jobs and their
files are removed ``JOB_RETENTION_SECONDS`` after they finished (checked whenever jobs are
listed, submitted or looked up). A runner that died (its process is gone on its host) turns its
job ``failed``.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_engine.engine.query import parse_query
from stream_engine.errors import BadRequest, NotFound, StreamEngineError
from stream_engine.outputs.export import run_export, writer_for
from stream_engine.outputs.split import run_split_export, time_slices

if TYPE_CHECKING:
    from stream_engine.engine.query import Query
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import Store

logger = logging.getLogger("stream_engine.jobs")

QUEUED, RUNNING, COMPLETE, FAILED = "queued", "running", "complete", "failed"
ACTIVE = (QUEUED, RUNNING)
FINISHED = (COMPLETE, FAILED)
FORMATS = {"netcdf": "netcdf", "csv": "csv", "tsv": "tsv", "tab": "tsv", "json": "json"}


class TooManyJobs(StreamEngineError):
    """The server already has as many active jobs as it allows."""

    status = 429


class JobCancelled(Exception):
    """The job's record was removed while it ran."""


def jobs_folder(settings: Mapping[str, Any]) -> Path:
    """``<ASYNC_DIR>/jobs``."""
    return Path(settings.path("ASYNC_DIR")) / "jobs"  # type: ignore[attr-defined]


def job_folder(settings: Mapping[str, Any], job_id: str) -> Path:
    """The folder of one job's files (the id is checked to be one of ours: no path tricks)."""
    try:
        uuid.UUID(hex=job_id)
    except (ValueError, TypeError):
        raise NotFound(f"no job {job_id!r}") from None
    return jobs_folder(settings) / job_id


def _format(name: str | None) -> str:
    name = "netcdf" if name is None else name
    if name.lower() not in FORMATS:
        raise BadRequest(f"format must be one of {sorted(FORMATS)}, got {name!r}")
    return FORMATS[name.lower()]


def request_body(query: Query) -> dict[str, Any]:
    """An original request body that :func:`~stream_engine.engine.query.parse_query` reads back
    as ``query`` (the range pinned: its defaults depend on the clock)."""
    return {
        "streams": [{"subsite": s.key.subsite, "node": s.key.node, "sensor": s.key.sensor,
                     "method": s.key.method, "stream": s.key.stream, "parameters": list(s.parameters)}
                    for s in query.streams],
        "start": query.start, "stop": query.stop, "limit": query.limit,
        "include_provenance": query.include_provenance, "include_annotations": query.include_annotations,
        "execute_dpa": query.execute_dpa, "require_deployment": query.require_deployment,
        "raw_data_only": query.raw_data_only, "run_qartod": query.run_qartod,
        "strict_range": query.strict_range, "qcParameters": query.describe()["qc_parameters"],
        "requestUUID": query.request_uuid, "classic": query.classic, "format": query.format,
    }


def submit(store: Store, settings: Mapping[str, Any], query: Query) -> dict[str, Any]:
    """Store a checked ``POST /jobs`` request as a queued job and start what may start.

    Parameters
    ----------
    query
        The checked body (:func:`~stream_engine.engine.query.parse_query`).

    Raises
    ------
    BadRequest
        The body names an unknown format.
    TooManyJobs
        ``JOB_MAX_ACTIVE`` jobs are queued or running already.
    """
    format_name = _format(query.format)
    writer_for(format_name)
    request = request_body(query)
    expire(store, settings)
    active = [j for j in store.jobs() if j["state"] in ACTIVE]
    limit = int(settings["JOB_MAX_ACTIVE"])
    if len(active) >= limit:
        raise TooManyJobs(f"{len(active)} export jobs are queued or running, the limit is {limit}; "
                          "try again when one has finished")
    job_id = uuid.uuid4().hex
    now = time.time()
    record = {"id": job_id, "state": QUEUED, "format": format_name, "request": request,
              "created": now, "updated": now, "progress": 0.0, "records": 0, "files": []}
    store.put_job(job_id, record)
    dispatch(store, settings)
    return store.job(job_id) or record


def dispatch(store: Store, settings: Mapping[str, Any]) -> list[str]:
    """Start a runner for each queued job that may run now; the ids started."""
    started = []
    while True:
        record = store.claim_job(int(settings["JOB_PROCESSES"]),
                                 {"host": socket.gethostname(), "started": time.time()})
        if record is None:
            return started
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "stream_engine.jobs", record["id"]],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, close_fds=True,
            )
        except OSError as exc:
            store.update_job(record["id"], {"state": FAILED, "reason": f"cannot start a runner: {exc}",
                                            "finished": time.time()})
            continue
        # reap it when it ends, so a dead runner is not a zombie that still looks alive
        threading.Thread(target=process.wait, daemon=True).start()
        store.update_job(record["id"], {"pid": process.pid})
        started.append(record["id"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child of this process is a zombie until reaped
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def status(store: Store, settings: Mapping[str, Any], job_id: str) -> dict[str, Any]:
    """The job's record; a running job whose runner died on this host is marked failed first.

    Raises
    ------
    NotFound
        No such job (never was, cancelled, or removed after its retention).
    """
    job_folder(settings, job_id)
    expire(store, settings)
    record = store.job(job_id)
    if record is None:
        raise NotFound(f"no job {job_id!r}; jobs are removed {settings['JOB_RETENTION_SECONDS']} s "
                       "after they finish")
    pid = record.get("pid")
    if record["state"] == RUNNING and pid and record.get("host") == socket.gethostname() and not _alive(pid):
        fresh = store.job(job_id)
        if fresh is not None and fresh["state"] == RUNNING:
            record = store.update_job(job_id, {"state": FAILED, "finished": time.time(),
                                               "reason": "the job's runner process ended unexpectedly"}) or record
    return record


def cancel(store: Store, settings: Mapping[str, Any], job_id: str) -> None:
    """Cancel a job (if it runs) and remove it with its files.

    Raises
    ------
    NotFound
        No such job.
    """
    folder = job_folder(settings, job_id)
    record = store.job(job_id)
    if record is None or not store.delete_job(job_id):
        raise NotFound(f"no job {job_id!r}")
    pid = record.get("pid")
    if record["state"] == RUNNING and pid and record.get("host") == socket.gethostname():
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    shutil.rmtree(folder, ignore_errors=True)
    dispatch(store, settings)


def expire(store: Store, settings: Mapping[str, Any]) -> list[str]:
    """Remove finished jobs older than ``JOB_RETENTION_SECONDS``; the ids removed."""
    cutoff = time.time() - float(settings["JOB_RETENTION_SECONDS"])
    removed = []
    for record in store.jobs():
        if record["state"] in FINISHED and record.get("finished", record["updated"]) < cutoff:
            if store.delete_job(record["id"]):
                shutil.rmtree(jobs_folder(settings) / record["id"], ignore_errors=True)
                removed.append(record["id"])
    return removed


def file_list(folder: Path) -> list[dict[str, Any]]:
    """Name and size of each file of a finished job."""
    return [{"name": p.name, "size": p.stat().st_size} for p in sorted(folder.iterdir()) if p.is_file()]


def run_job(store: Store, preload: Preload, settings: Mapping[str, Any], job_id: str) -> str:
    """Run a claimed job to its end in this process; its final state."""
    record = store.job(job_id)
    if record is None:
        return "cancelled"
    folder = job_folder(settings, job_id)
    query = parse_query(record["request"], preload, settings)

    def progress(done: int, total: int) -> None:
        now = time.time()
        if store.update_job(job_id, {"progress": round(done / total, 4) if total else 1.0,
                                     "records": done, "updated": now}) is None:
            raise JobCancelled(job_id)

    def slice_done(done: int, total: int, records: int) -> bool:
        return store.update_job(job_id, {"progress": round(done / total, 4), "records": records,
                                         "updated": time.time()}) is not None

    try:
        slices = time_slices(store, query, int(settings["JOB_SPLIT_RECORDS"]))
        if len(slices) > 1:
            store.update_job(job_id, {"subjobs": len(slices)})
            split = run_split_export(settings, query, record["format"], folder, slices,
                                     int(settings["JOB_SUBJOB_PROCESSES"]), slice_done)
            if split is None:
                raise JobCancelled(job_id)
            result = split
        else:
            result = run_export(store, preload, query, record["format"], folder, settings, progress)
    except JobCancelled:
        shutil.rmtree(folder, ignore_errors=True)
        return "cancelled"
    except StreamEngineError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        state = store.update_job(job_id, {"state": FAILED, "reason": str(exc), "code": exc.status,
                                          "finished": time.time(), "updated": time.time()})
        return FAILED if state is not None else "cancelled"
    except Exception as exc:
        logger.error("export job %s failed", job_id, exc_info=exc)
        shutil.rmtree(folder, ignore_errors=True)
        store.update_job(job_id, {"state": FAILED, "reason": "unexpected internal error (see the error log)",
                                  "code": 500, "finished": time.time(), "updated": time.time()})
        return FAILED
    now = time.time()
    done = store.update_job(job_id, {"state": COMPLETE, "progress": 1.0, "records": result.records,
                                     "files": file_list(folder), "finished": now, "updated": now})
    if done is None:
        shutil.rmtree(folder, ignore_errors=True)
        return "cancelled"
    return COMPLETE


def main(argv: list[str] | None = None) -> int:
    """``python -m stream_engine.jobs JOB_ID``: the runner process of one job."""
    from stream_engine.config import load_settings
    from stream_engine.logs import configure_logging
    from stream_engine.preload import default_preload
    from stream_engine.store import open_store

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m stream_engine.jobs JOB_ID", file=sys.stderr)
        return 2
    settings = load_settings()
    configure_logging(settings)
    store = open_store(settings)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        state = run_job(store, default_preload(settings), settings, args[0])
        dispatch(store, settings)
    finally:
        store.close()
    return 0 if state in (COMPLETE, "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
