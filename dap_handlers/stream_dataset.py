"""A stored stream as a virtual DAP dataset: stored parameters and computable products on ``obs``.

:func:`stream_dataset` builds the :class:`~dap_handlers.model.DapDataset` of one stream from the
partition index (record count, time coverage), the stored columns' dtypes and shapes, the asset
events and the preload dictionary, resolving a :class:`~stream_engine.engine.plan.Plan` for every
parameter of the stream; none of that reads data. Variables, in declaration order:

* ``time`` (Float64, ``seconds since 1900-01-01 0:0:0``): an ordinary variable on ``obs``, not a
  coordinate dimension, so clients do not download it to open the dataset;
* ``deployment`` (Int32);
* on a mobile platform, the coordinates its records carry from the platform's other streams
  (Float64: ``int_ctd_pressure``, and for gliders ``m_gps_lat``, ``m_gps_lon``, ``m_lat``,
  ``m_lon``, ``lat``, ``lon``; see :mod:`stream_engine.engine.positions`); a coordinate that
  cannot be found is listed in ``unavailable_parameters`` like a product;
* the stream's parameters in dictionary order: each stored one, then each product the stream can
  compute (from its own raw values, calibrations and other streams' values). Array parameters
  are 2-D ``(obs, <dim>)``, the dimension named by the dictionary's ``dimensions`` or
  ``<name>_dim``.

Names are the dictionary's ``netcdf_name`` (else ``name``); when two parameters of a stream would
share a name, the later one takes its ``name`` (or ``<name>_PD<id>``). The preload name and id
stay in the ``ooi_parameter_name``/``ooi_parameter_id`` attributes.

Products that cannot be computed at all (no implementation, a calibration missing for every
deployment, an input no stream provides) are *left out* rather than served as all-fill
variables, and listed with the reason in the global ``unavailable_parameters`` attribute; raw
parameters the store does not hold are listed in ``parameters_not_stored``. A product that can
be computed for some records only (a deployment without calibration, records outside every
deployment) is served, with fill where it cannot be computed and the reason in
``provenance_notes`` where the plan knows it.

Values are read lazily by :class:`~dap_handlers.stream_reads.StreamReads`;
:func:`stream_dataset_version` also gives the ``ETag``/``Last-Modified`` pair for conditional
requests (:func:`stream_engine.engine.versions.response_version` of the dataset's plan). Call
both with a store *snapshot* (``with store.snapshot() as view``) held until the response is
sent, so every count, block and product agrees with one state of the store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from dap_handlers.model import DapDataset, DapVariable
from dap_handlers.qartod_variables import qartod_variables
from dap_handlers.qc_variables import qc_variables
from dap_handlers.stream_reads import ProductShape, StreamReads
from dap_handlers.window_layout import DAP2_ORDER
from stream_engine import assets
from stream_engine.engine.compute import compute
from stream_engine.engine.plan import PRODUCT, RAW
from stream_engine.engine.plan_cache import cached_resolve
from stream_engine.engine.query_run import index_span
from stream_engine.engine.resolve import TIME_PARAMETER, resolve
from stream_engine.engine.versions import ResponseVersion, response_version
from stream_engine.errors import NotFound
from stream_engine.outputs import attributes
from stream_engine.quality.annotations import annotation_attributes, annotations_for
from stream_engine.quality.legacy_qc import qc_for
from stream_engine.quality.qartod import qartod_for
from stream_engine.quality.qartod_inputs import ExternalFinder
from stream_engine.store.base import DEPLOYMENT, TIME, IndexRange, StreamKey, TimeRange

if TYPE_CHECKING:
    from stream_engine.engine.plan import Plan, ProductStep
    from stream_engine.preload.model import Parameter, Preload
    from stream_engine.store.base import ColumnInfo, Store, StreamCoverage

OBS = "obs"
#: Rows per block of a stored column (the embedded store's chunk size): a block then stays in
#: the CPU caches from the store read to the socket (4 MiB blocks were 1.4x slower in CPU).
STORED_BLOCK_ROWS = 65536
_NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)


def stream_coverage(store: Store, preload: Preload, key: StreamKey) -> StreamCoverage:
    """The stream's coverage, or :class:`NotFound` naming what is missing and where to look."""
    coverage = store.coverage(key)
    if coverage is None or coverage.count == 0:
        raise NotFound(f"no stream {key.path!r} holds data in this store; see /dap/ for the list")
    if key.stream not in preload.streams:
        raise NotFound(
            f"stream {key.stream!r} ({key.path}) is not in the preload dictionary, so it cannot "
            "be described; load a dictionary that defines it"
        )
    return coverage


def _variable_name(p: Parameter, taken: set[str]) -> str:
    for name in (p.netcdf_name or p.name, p.name, f"{p.name}_PD{p.id}"):
        if name and name not in taken:
            return name
    return f"{p.name}_PD{p.id}_{len(taken)}"


def _dimension(name: str, p: Parameter | None, size: int, dims: dict[str, int]) -> str:
    """A dimension name for the second axis of an array variable, unique per size."""
    for candidate in ((p.dimensions[0],) if p is not None and len(p.dimensions) == 1 else ()) + (
        f"{name}_dim",
    ):
        if dims.get(candidate, size) == size and candidate != OBS:
            dims[candidate] = size
            return candidate
    fallback = f"{name}_dim{size}"
    dims[fallback] = size
    return fallback


def _array_row(
    step: ProductStep, plan: Plan, columns: Mapping[str, ColumnInfo], seen: set[int]
) -> tuple[int, ...] | None:
    """The row shape of an array product, from its array inputs (stored or computed)."""
    seen.add(step.parameter_id)
    for arg in step.arguments:
        if arg.kind == RAW and arg.column in columns and columns[arg.column].shape:
            return tuple(columns[arg.column].shape)
        if arg.kind == PRODUCT and arg.parameter_id is not None and arg.parameter_id not in seen:
            inner = plan.product(arg.parameter_id)
            found = None if inner is None else _array_row(inner, plan, columns, seen)
            if found:
                return found
    return None


def _named_row(p: Parameter, sized: Mapping[tuple[str, ...], tuple[int, ...]]) -> tuple[int, ...] | None:
    """The row shape of an array product whose dimension a stored array of the stream already
    sizes (an ADCP's bin depths take the size of ``bin`` from the beam velocities)."""
    return sized.get(p.dimensions) if len(p.dimensions) == 1 else None


def _probe_row(store: Store, preload: Preload, key: StreamKey, p: Parameter,
               time_range: TimeRange, settings: Mapping[str, Any]) -> tuple[int, ...] | None:
    """Compute one record to learn an array product's row shape (its inputs did not tell)."""
    plan = resolve(store, preload, key, [p.id], time_range, settings=settings)
    out = compute(store, preload, plan, index_range=IndexRange(0, 1), settings=settings,
                  require_deployment=False)
    values = np.asarray(out[p.name])
    return tuple(values.shape[1:]) if values.ndim > 1 else None


def stream_dataset(
    store: Store,
    preload: Preload,
    key: StreamKey,
    *,
    settings: Mapping[str, Any],
    projection: Collection[str] | None = None,
    coverage: StreamCoverage | None = None,
    byte_order: str = DAP2_ORDER,
) -> DapDataset:
    """The virtual DAP dataset of a stream (:func:`stream_dataset_version` without the version)."""
    return stream_dataset_version(store, preload, key, settings=settings, projection=projection,
                                  coverage=coverage, byte_order=byte_order)[0]


def stream_dataset_version(
    store: Store,
    preload: Preload,
    key: StreamKey,
    *,
    settings: Mapping[str, Any],
    projection: Collection[str] | None = None,
    coverage: StreamCoverage | None = None,
    byte_order: str = DAP2_ORDER,
) -> tuple[DapDataset, ResponseVersion]:
    """The virtual DAP dataset of a stream, and its validators.

    Parameters
    ----------
    store, preload
        Where the stream lives and the dictionary that describes it.
    key
        The stream.
    settings
        Engine settings; uses ``DAP_COMPUTE_RECORDS``, ``DAP_COMPUTE_THREADS``,
        ``DAP_CACHE_BYTES`` and what resolution and computation need.
    projection
        Names of the variables the request projects (``None``: all). Only a hint for grouping
        computations (a product is computed together with the projected products declared
        after it); the dataset always declares every variable.
    coverage
        The stream's coverage if the caller has it already.
    byte_order
        The byte order of the response that reads the dataset (DAP2's
        :data:`~dap_handlers.window_layout.DAP2_ORDER`, or ``DAP4_ORDER``): its numbers are
        assembled in it, so the encoder sends them without swapping them again.

    Returns
    -------
    DapDataset
        Named ``<refdes>-<method>-<stream>``; reading a variable computes only its hyperslab.
    ResponseVersion
        ``ETag`` and ``Last-Modified`` of the dataset (also the key of its cached windows).

    Raises
    ------
    NotFound
        The store holds no data for ``key`` or the dictionary does not define the stream.
    """
    coverage = coverage or stream_coverage(store, preload, key)
    columns = store.columns(key)
    time_range = _whole_stream(coverage)
    plan = cached_resolve(store, preload, key, None, time_range, settings=settings)
    version = response_version(store, preload, [plan], settings)
    definition = preload.stream(key.stream)
    taken = {TIME, DEPLOYMENT}
    dims: dict[str, int] = {OBS: coverage.count}
    stored: list[tuple[str, Parameter | None, ColumnInfo]] = []
    products: list[tuple[str, Parameter, ProductStep, tuple[int, ...]]] = []
    unavailable: list[tuple[Parameter | str, str]] = list(plan.positions_unavailable)
    not_stored: list[Parameter] = []
    seen: set[str] = set()
    sized = {q.dimensions: tuple(columns[q.name].shape) for q in preload.stream_parameters(key.stream)
             if not q.is_function and len(q.dimensions) == 1 and q.name in columns and columns[q.name].shape}
    for p in preload.stream_parameters(key.stream):
        if p.id == (definition.temporal_parameter or TIME_PARAMETER) or p.name in (TIME, DEPLOYMENT):
            continue
        if p.name in seen:  # results are keyed by preload name: the first one wins
            unavailable.append((p, f"another parameter of the stream is also named {p.name!r}"))
            continue
        seen.add(p.name)
        if not p.is_function:
            if p.name in columns:
                stored.append((_variable_name(p, taken), p, columns[p.name]))
                taken.add(stored[-1][0])
            else:
                not_stored.append(p)
            continue
        step = plan.product(p.id)
        reason = plan.reason(p.id)
        if step is None or reason is not None:
            unavailable.append((p, reason or "not planned"))
            continue
        row: tuple[int, ...] | None = ()
        if p.is_array or p.dimensions:
            row = (_array_row(step, plan, columns, set()) or _named_row(p, sized)
                   or _probe_row(store, preload, key, p, time_range, settings))
        if row is None:
            unavailable.append((p, "the size of its second dimension cannot be determined"))
            continue
        products.append((_variable_name(p, taken), p, step, row))
        taken.add(products[-1][0])
    described = {p.name for _, p, _ in stored if p is not None}
    for name in sorted(set(columns) - described - {TIME, DEPLOYMENT}):
        if name not in taken:
            stored.append((name, None, columns[name]))
            taken.add(name)

    found = annotations_for(store, key, float(coverage.first), float(coverage.last))
    shapes = {p.name: ProductShape(row, attributes.fill_value(p), p.dtype) for _, p, _, row in products}
    positions = [pos for pos in plan.positions if pos.name not in taken]
    for pos in positions:
        shapes[pos.name] = ProductShape((), np.nan, np.dtype(np.float64))
        taken.add(pos.name)
    wanted = [(n, p, row) for n, p, _, row in products if projection is None or n in projection]
    reads = StreamReads(
        store, preload, key, time_range, settings,
        block_records=int(settings["DAP_COMPUTE_RECORDS"]),
        cache_bytes=int(settings["DAP_CACHE_BYTES"]),
        shapes=shapes,
        threads=int(settings["DAP_COMPUTE_THREADS"]),
        cache_token=version.etag,
        annotations=found,
        shared_dir=store.local_folder(),
        shared_bytes=int(settings.get("DAP_SHARED_CACHE_BYTES", 0) or 0),
        shared_stamp=None if version.last_modified is None else version.last_modified.timestamp(),
        byte_order=byte_order,
    )
    n = coverage.count
    variables = [
        DapVariable(TIME, np.float64, (n,), (OBS,), lambda k: reads.stored(TIME, k),
                    attributes.time_attributes(coverage), STORED_BLOCK_ROWS),
        DapVariable(DEPLOYMENT, np.int32, (n,), (OBS,), reads.deployment,
                    attributes.deployment_attributes(), STORED_BLOCK_ROWS),
    ]
    deployments = assets.deployments(store, key.refdes)

    @functools.cache
    def availability() -> attributes.Availability:
        return attributes.Availability(
            deployments=deployments, partitions=store.partitions(key),
            sources=[c for c in store.streams() if c.key in {e.key for e in plan.externals}],
            max_gap=float(settings["MAX_INTERPOLATION_GAP"]),
            require_deployment=bool(settings["REQUIRE_DEPLOYMENT"]),
        )

    position_names = [pos.name for pos in positions]
    data_coordinates = attributes.coordinates(position_names)
    projected = [name for name in position_names if projection is None or name in projection]
    for pos in positions:
        group = [pos.name, *(name for name in projected if name != pos.name)]
        variables.append(DapVariable(pos.name, np.float64, (n,), (OBS,), _position_reader(reads, pos.name, group),
                                     functools.partial(attributes.position_attributes, pos, plan)))
    for name, p, info in stored:
        dtype = np.dtype(info.dtype)
        shape = (n, *info.shape)
        dim = (OBS, *(_dimension(name, p, size, dims) for size in info.shape))
        attrs = functools.partial(_stored_attributes, name, p, dtype, data_coordinates, availability)
        variables.append(DapVariable(name, dtype, shape, dim, _stored_reader(reads, info.name, p),
                                     attrs, STORED_BLOCK_ROWS))
    wanted_names = [p.name for _, p, _ in wanted]
    for position, (name, p, step, row) in enumerate(products):
        later = [q for _, q, _, _ in products[position:] if q.name in wanted_names]
        group = [p, *(q for q in later if q.id != p.id)]
        dim = (OBS, *(_dimension(name, p, size, dims) for size in row))
        variables.append(DapVariable(name, p.dtype, (n, *row), dim, _product_reader(reads, p, group),
                                     functools.partial(_product_attributes, p, step, plan, data_coordinates,
                                                       availability)))
    global_attrs = attributes.global_attributes(
        coverage, deployments, stored=len(stored),
        products=len(products), unavailable=unavailable, not_stored=not_stored,
        require_deployment=bool(settings["REQUIRE_DEPLOYMENT"]),
    )
    global_attrs.update(annotation_attributes(found))
    tested, legacy = qartod_for(store, key), qc_for(store, key)
    if tested or legacy:
        served = {p.name: name for name, p, _ in stored if p is not None}
        served.update({p.name: name for name, p, _, _ in products})
        by_name = {v.name: v for v in variables}
        by_parameter = {pn: by_name[vn] for pn, vn in served.items()}
        def lookup(name: str) -> DapVariable | None:
            return by_parameter.get(name) or by_name.get(name)

        finder = ExternalFinder(store, preload, key, settings)
        variables += qartod_variables(tested, by_parameter, variables[0], OBS, lookup, finder, variables[1])
        variables += qc_variables(legacy, by_parameter, variables[0], OBS, lookup)
    dataset = DapDataset(
        attributes.dataset_id(coverage), variables, global_attrs,
        time_index=lambda start, stop: index_span(store, key, TimeRange(start, stop)),
    )
    return dataset, version


def dataset_version(
    store: Store, preload: Preload, key: StreamKey, *, settings: Mapping[str, Any],
    coverage: StreamCoverage | None = None,
) -> ResponseVersion:
    """The validators :func:`stream_dataset_version` gives, without building the dataset: the
    :func:`~stream_engine.engine.versions.response_version` of the stream's (cached) plan, from
    change tokens. For answering a conditional request before anything else is made."""
    coverage = coverage or stream_coverage(store, preload, key)
    plan = cached_resolve(store, preload, key, None, _whole_stream(coverage), settings=settings)
    return response_version(store, preload, [plan], settings)


def _whole_stream(coverage: StreamCoverage) -> TimeRange:
    return TimeRange(float(coverage.first), float(np.nextafter(coverage.last, np.inf)))


def _stored_attributes(name: str, p: Parameter | None, dtype: np.dtype, coordinates: str,
                       availability: Callable[[], attributes.Availability]) -> dict[str, Any]:
    """A stored variable's attributes (made only when a response shows them)."""
    attrs = attributes.parameter_attributes(p, dtype.kind) if p is not None else {"long_name": name}
    attrs["coordinates"] = coordinates
    attrs.update(attributes.stored_availability(availability()))
    return attrs


def _product_attributes(p: Parameter, step: ProductStep, plan: Plan, coordinates: str,
                        availability: Callable[[], attributes.Availability]) -> dict[str, Any]:
    """A product's attributes (made only when a response shows them)."""
    return {**attributes.parameter_attributes(p, p.dtype.kind),
            **attributes.provenance_attributes(step, plan), "coordinates": coordinates,
            **attributes.availability_attributes(step, plan, availability())}


def _stored_reader(reads: StreamReads, column: str, p: Parameter | None) -> Any:
    return lambda key: reads.stored(column, key, p)


def _position_reader(reads: StreamReads, name: str, group: list[str]) -> Any:
    return lambda key: reads.position(name, group, key)


def _product_reader(reads: StreamReads, p: Parameter, group: list[Parameter]) -> Any:
    return reads.product_reader(p, group)
