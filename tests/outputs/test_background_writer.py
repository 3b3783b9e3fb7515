"""The export's writer thread: chunks written in order, a writing error reaches the producer,
and a producer that fails leaves no file and no thread behind."""

from __future__ import annotations

import threading

import netCDF4
import numpy as np
import pytest
from conftest import stream_body

from stream_engine.demo import CTD
from stream_engine.engine.query import parse_query
from stream_engine.outputs.export import run_export
from stream_engine.outputs.writer import BackgroundWriter, ChunkWriter, DeploymentFile


class _Recorded(DeploymentFile):
    """Text file of the times it was given; ``fail_at`` makes that append raise."""

    suffix = ".txt"
    fail_at: float | None = None

    def open(self, chunk):
        self.handle = open(self.temporary, "w")  # noqa: SIM115

    def append(self, chunk):
        if self.fail_at is not None and self.fail_at in chunk["time"]:
            raise OSError("disk full")
        self.handle.write("".join(f"{t}\n" for t in chunk["time"].tolist()))

    def finish(self):
        self.handle.close()

    def abandon(self):
        self.handle.close()


class _Writer(ChunkWriter):
    file_class = _Recorded


def _chunks(n: int, size: int = 10):
    for i in range(n):
        times = np.arange(i * size, (i + 1) * size, dtype=np.float64)
        yield {"time": times, "deployment": np.where(times < n * size / 2, 1, 2).astype(np.int32)}


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "export-writer"]


def test_chunks_are_written_in_order_then_the_thread_ends(tmp_path):
    with _Writer(tmp_path, layout=_Layout()) as writer:
        with BackgroundWriter(writer) as background:
            for chunk in _chunks(7):
                background.write(chunk)
        paths = writer.close()
    assert [p.name for p in paths] == ["deployment0001.txt", "deployment0002.txt"]
    written = [float(line) for p in paths for line in p.read_text().split()]
    assert written == list(range(70)) and writer.records == 70
    assert not _writer_threads()


def test_a_writing_error_reaches_the_producer_and_nothing_is_left(tmp_path, monkeypatch):
    monkeypatch.setattr(_Recorded, "fail_at", 25.0)
    with pytest.raises(OSError, match="disk full"), _Writer(tmp_path, layout=_Layout()) as writer:
        with BackgroundWriter(writer) as background:
            for chunk in _chunks(7):
                background.write(chunk)
    assert list(tmp_path.iterdir()) == [] and not _writer_threads()


def test_a_producer_error_leaves_nothing(tmp_path):
    with pytest.raises(KeyError), _Writer(tmp_path, layout=_Layout()) as writer:
        with BackgroundWriter(writer) as background:
            for i, chunk in enumerate(_chunks(7)):
                background.write(chunk)
                if i == 3:
                    raise KeyError("computing failed")
    assert list(tmp_path.iterdir()) == [] and not _writer_threads()


class _Layout:
    """The part of an ExportLayout the writer base class uses: file names."""

    def file_stem(self, deployment, first, last):
        return f"deployment{deployment:04d}"


def test_netcdf_chunks_and_compression(ctd_export_files):
    """Each variable compressed as the baseline (zlib 1 + shuffle) in chunks of
    ``CHUNK_RECORDS`` records (fewer than a file's records when the file is shorter)."""
    from stream_engine.outputs.netcdf import CHUNK_RECORDS

    for path in ctd_export_files:
        with netCDF4.Dataset(path) as ds:
            for name in ("time", "deployment", "sea_water_practical_salinity", "lat"):
                filters = ds[name].filters()
                assert filters["zlib"] and filters["complevel"] == 1 and filters["shuffle"], name
                assert ds[name].chunking() == [CHUNK_RECORDS], name


@pytest.fixture(scope="module")
def ctd_export_files(tmp_path_factory, demo_store, curated, export_settings):
    query = parse_query(stream_body(CTD, [13]), curated, export_settings)
    folder = tmp_path_factory.mktemp("chunks")
    return [p for p in run_export(demo_store, curated, query, "netcdf", folder, export_settings).files]


class _Cancelled(Exception):
    pass


def test_an_export_cancelled_mid_way_leaves_no_file(demo_store, curated, export_settings, tmp_path):
    """What a cancelled job's runner does: its progress callback raises after some chunks."""
    query = parse_query(stream_body(CTD, [13, 5]), curated, export_settings)
    seen = []

    def progress(done, total):
        seen.append(done)
        if len(seen) == 3:
            raise _Cancelled

    with pytest.raises(_Cancelled):
        run_export(demo_store, curated, query, "netcdf", tmp_path,
                   export_settings.replace(QUERY_CHUNK_RECORDS=2000), progress)
    assert seen == [2000, 4000, 6000]
    assert list(tmp_path.iterdir()) == [] and not _writer_threads()
