"""Running queries (:mod:`stream_engine.engine.query_run`) on the demo mooring: chunks equal to
one computation over the range, further streams interpolated, limit decimation, no data, and
every read inside one snapshot."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest

from stream_engine import demo
from stream_engine.config import REPO_ROOT
from stream_engine.engine.compute import compute
from stream_engine.engine.interpolate import interpolate
from stream_engine.engine.query import parse_query
from stream_engine.engine.query_run import index_span, open_query, run_query
from stream_engine.engine.resolve import resolve
from stream_engine.errors import NoDataInRange
from stream_engine.preload import load_preload
from stream_engine.store.base import TimeRange
from stream_engine.store.wrapper import WrapperStore

DEP2 = demo.DEPLOYMENTS[1]
START, STOP = DEP2.start, DEP2.start + 86400.0
CTD_PRODUCTS = ("practical_salinity", "density", "ctdbp_seawater_temperature")


@pytest.fixture(scope="module")
def curated():
    return load_preload(REPO_ROOT / "preload_database")


@pytest.fixture
def mooring(store, curated):
    demo.fill_demo(store, curated)
    return store


def _entry(key, parameters):
    return {"subsite": key.subsite, "node": key.node, "sensor": key.sensor, "method": key.method,
            "stream": key.stream, "parameters": list(parameters)}


def _ids(preload, key, names):
    return [p.id for p in preload.stream_parameters(key.stream) if p.name in names]


def _concat(chunks):
    chunks = list(chunks)
    return {name: np.concatenate([c.data[name] for c in chunks]) for name in chunks[0].data}


def test_chunks_are_bounded_and_equal_one_computation_over_the_range(mooring, curated, settings):
    ids = _ids(curated, demo.CTD, CTD_PRODUCTS)
    query = parse_query({"streams": [_entry(demo.CTD, ids)], "start": START, "stop": STOP}, curated, settings)
    small = settings.replace(QUERY_CHUNK_RECORDS=300)
    chunks = list(run_query(mooring, curated, query, small))
    assert len(chunks) > 3 and all(0 < len(c) <= 300 for c in chunks)
    got = _concat(chunks)
    plan = resolve(mooring, curated, demo.CTD, ids, query.time_range, settings=settings)
    expected = compute(mooring, curated, plan, settings=settings)
    np.testing.assert_array_equal(got["time"], expected.time)
    np.testing.assert_array_equal(got["deployment"], expected.deployment)
    for name in CTD_PRODUCTS:
        netcdf = curated.parameters[plan.product(_ids(curated, demo.CTD, {name})[0]).parameter_id].netcdf_name
        np.testing.assert_array_equal(got[netcdf], expected[name])
    assert got["time"][0] >= START and got["time"][-1] <= STOP
    stored = mooring.read(demo.CTD, [])["time"]
    assert len(got["time"]) == np.count_nonzero((stored >= START) & (stored <= STOP)) > 1400
    salinity = got["sea_water_practical_salinity"]
    assert 30 < np.nanmin(salinity) and np.nanmax(salinity) < 35


def test_output_variables_use_netcdf_names_and_time_comes_first(mooring, curated, settings):
    query = parse_query({"streams": [_entry(demo.CTD, [])], "start": START, "stop": STOP}, curated, settings)
    with open_query(mooring, curated, query, settings) as run:
        names = [v.name for v in run.variables]
    assert names[0] == "time" and names.count("time") == 1
    assert {"sea_water_practical_salinity", "sea_water_density", "sea_water_temperature"} <= set(names)
    assert "practical_salinity" not in names


def test_a_further_stream_is_interpolated_onto_the_primary_times(mooring, curated, settings):
    oxygen = _ids(curated, demo.OPTODE, {"dissolved_oxygen"})
    salinity = _ids(curated, demo.CTD, {"practical_salinity"})
    body = {"streams": [_entry(demo.CTD, salinity), _entry(demo.OPTODE, oxygen)], "start": START, "stop": STOP}
    query = parse_query(body, curated, settings)
    with open_query(mooring, curated, query, settings) as run:
        got = _concat(run.chunks())
        interpolated = run.provenance.computed_provenance()["interpolated"]
    column = "dosta_abcdjm_dcl_instrument_recovered-dissolved_oxygen"
    assert column in got and got[column].dtype == np.float32
    # the oracle interpolates from the whole optode stream, so its gaps are the real ones
    plan = resolve(mooring, curated, demo.OPTODE, oxygen, TimeRange.everything(), settings=settings)
    optode = compute(mooring, curated, plan, settings=settings)
    expected = interpolate(got["time"], optode.time, optode["dissolved_oxygen"].astype(np.float64),
                           kind="linear", max_gap=settings.MAX_INTERPOLATION_GAP)
    np.testing.assert_allclose(got[column], expected.astype(np.float32), rtol=1e-6)
    # the first CTD record of deployment 2 precedes the optode's first one there, and the
    # optode's record before it ends deployment 1 days earlier: no record either side in the gap
    assert np.isnan(got[column][0]) and got["time"][0] < optode.time[optode.time >= START][0]
    assert np.isfinite(got[column][1:]).all() and 150 < np.nanmean(got[column]) < 400
    assert interpolated[column]["stream"] == demo.OPTODE.path


def test_limit_keeps_that_many_real_records_across_the_range(mooring, curated, settings):
    ids = _ids(curated, demo.CTD, {"ctdbp_seawater_temperature"})
    body = {"streams": [_entry(demo.CTD, ids)], "start": START, "stop": START + 7 * 86400}
    full = _concat(run_query(mooring, curated, parse_query(body, curated, settings), settings))
    small = settings.replace(QUERY_CHUNK_RECORDS=2000)
    got = _concat(run_query(mooring, curated, parse_query({**body, "limit": 500}, curated, settings), small))
    assert len(got["time"]) == 500
    assert np.all(np.diff(got["time"]) > 0)
    where = np.searchsorted(full["time"], got["time"])
    np.testing.assert_array_equal(full["time"][where], got["time"])
    np.testing.assert_array_equal(full["sea_water_temperature"][where], got["sea_water_temperature"])
    # the shape survives: each day's extremes are kept to within 3 % of its span, closer than
    # taking every n-th record gets
    days = (full["time"] - START) // 86400
    temperature = full["sea_water_temperature"]
    nth = np.linspace(0, len(temperature) - 1, 500).round().astype(int)
    lttb_miss = nth_miss = 0.0
    for day in np.unique(days):
        in_day = days == day
        span = temperature[in_day].max() - temperature[in_day].min()
        kept = got["sea_water_temperature"][(got["time"] >= full["time"][in_day][0])
                                            & (got["time"] <= full["time"][in_day][-1])]
        assert kept.max() >= temperature[in_day].max() - 0.03 * span
        assert kept.min() <= temperature[in_day].min() + 0.03 * span
        strided = temperature[nth][in_day[nth]]
        lttb_miss += (temperature[in_day].max() - kept.max()) + (kept.min() - temperature[in_day].min())
        nth_miss += (temperature[in_day].max() - strided.max()) + (strided.min() - temperature[in_day].min())
    assert lttb_miss < nth_miss


def test_no_records_in_range_is_404_before_any_chunk(mooring, curated, settings):
    body = {"streams": [_entry(demo.CTD, [])], "start": 3_500_000_000.0, "stop": 3_500_000_100.0}
    with pytest.raises(NoDataInRange) as caught:
        open_query(mooring, curated, parse_query(body, curated, settings), settings)
    assert caught.value.status == 404 and caught.value.field == "start"
    empty = {"streams": [_entry(demo.CTD.__class__(*demo.CTD.path.split("/")[:2], "99-CTDBPC999",
                                                   demo.CTD.method, demo.CTD.stream), [])]}
    with pytest.raises(NoDataInRange, match="holds no data"):
        open_query(mooring, curated, parse_query(empty, curated, settings), settings)


def test_index_span_agrees_with_a_time_search(mooring):
    times = mooring.read(demo.CTD, [])["time"]
    for start, stop in [(START, STOP), (times[0], times[-1] + 1), (times[10] + 0.5, times[5000]),
                        (times[-1] + 1, times[-1] + 2), (0.0, times[0])]:
        first, stop_index = index_span(mooring, demo.CTD, TimeRange(start, stop))
        expected = tuple(int(i) for i in np.searchsorted(times, [start, stop]))
        if expected[0] == expected[1]:
            assert first == stop_index
        else:
            assert (first, stop_index) == expected


class _SnapshotOnly(WrapperStore):
    """Refuses data and asset reads made outside ``snapshot()``."""

    inside = 0

    @contextmanager
    def snapshot(self):
        self.inside += 1
        try:
            yield self
        finally:
            self.inside -= 1

    def read(self, *args, **kwargs):
        assert self.inside, "read outside a snapshot"
        return super().read(*args, **kwargs)

    def asset_events(self, refdes):
        assert self.inside, "asset events read outside a snapshot"
        return super().asset_events(refdes)


def test_every_read_of_a_run_goes_through_one_snapshot(mooring, curated, settings):
    guarded = _SnapshotOnly(mooring)
    oxygen = _ids(curated, demo.OPTODE, {"dissolved_oxygen"})
    body = {"streams": [_entry(demo.CTD, []), _entry(demo.OPTODE, oxygen)], "start": START, "stop": STOP}
    chunks = run_query(guarded, curated, parse_query(body, curated, settings), settings.replace(QUERY_CHUNK_RECORDS=100))
    assert sum(len(c) for c in chunks) > 1400
    assert guarded.inside == 0
