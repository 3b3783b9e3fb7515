"""The further inputs of QARTOD tests: ``zinp``, ``lat``, ``lon`` ... named by a record's ``parameters``.

A name is, in this order:

1. a parameter of the tested stream (stored or product, by preload or output name) or one of its
   position variables (``lat``, ``lon``, ``depth`` ...), read over the same records;
2. ``<stream>-<parameter>``: a parameter of another stream, the best co-located stream of that
   name (the same rules as a product's inputs from other instruments, e.g. the CTD of a mooring or
   profiler), interpolated onto the tested stream's times as the engine interpolates products'
   external inputs (linear for numbers, within ``MAX_INTERPOLATION_GAP``);
3. a parameter name no stream of the first kind holds: the same search by parameter name among
   co-located streams (as the original used a request's external inputs for a name its dataset
   lacked).

A name none of these finds leaves the test without that input: the record is not run and the
reason is noted (JSON ``provenance_messages``, DAP attribute ``qartod_not_run``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.engine.colocation import candidate_streams, is_mobile
from stream_engine.engine.compute import compute
from stream_engine.engine.compute_inputs import external_inputs
from stream_engine.engine.plan import ExternalInput
from stream_engine.engine.resolve import resolve
from stream_engine.store.base import TimeRange

if TYPE_CHECKING:
    from stream_engine.engine.computed import ComputedSlice
    from stream_engine.engine.plan import Plan
    from stream_engine.preload.model import Parameter, Preload
    from stream_engine.quality.qartod import QartodRecord
    from stream_engine.store.base import Store, StreamKey

#: Inputs every record gets from the tested values and times; never looked up.
OWN_INPUTS = ("inp", "tinp")


def input_names(records: list[QartodRecord]) -> set[str]:
    """The names the records' further inputs (``zinp``, ``lat`` ...) refer to."""
    return {name for r in records for arg, name in r.inputs.items() if arg not in OWN_INPUTS}


@dataclass(frozen=True, slots=True)
class ExternalSource:
    """Where an input from another stream comes from."""

    name: str
    external: ExternalInput


class ExternalFinder:
    """Finds ``<stream>-<param>`` (or a bare parameter name) among the streams co-located with
    ``key`` and interpolates it onto the tested records' times.

    Parameters
    ----------
    view
        The response's store snapshot.
    preload
        The parameter dictionary.
    key
        The tested stream.
    settings
        Engine settings (``MAX_DEPTH_VARIANCE``, ``MAX_INTERPOLATION_GAP`` and what computing needs).
    """

    def __init__(self, view: Store, preload: Preload, key: StreamKey, settings: Mapping[str, Any]) -> None:
        self.view, self.preload, self.key, self.settings = view, preload, key, settings
        coverage = view.coverage(key)
        self.time_range = (TimeRange.everything() if coverage is None
                           else TimeRange(float(coverage.first), float(np.nextafter(coverage.last, np.inf))))
        self._found: dict[str, ExternalSource | None] = {}

    def find(self, name: str) -> ExternalSource | None:
        """The co-located stream's parameter ``name`` refers to, or ``None``."""
        if name not in self._found:
            self._found[name] = self._search(name)
        return self._found[name]

    def _search(self, name: str) -> ExternalSource | None:
        streams = self.preload.streams
        stream, _, parameter = name.partition("-")
        wanted_stream = stream if parameter and stream in streams else None
        wanted = parameter if wanted_stream else name
        candidates = candidate_streams(
            (c for c in self.view.streams() if c.key != self.key), self.key, self.time_range,
            self.preload.nominal_depths, float(self.settings["MAX_DEPTH_VARIANCE"]), mobile=is_mobile(self.key))
        for cand in candidates:
            if wanted_stream is not None and cand.key.stream != wanted_stream:
                continue
            definition = streams.get(cand.key.stream)
            if definition is None or definition.is_virtual:
                continue
            q = next((self.preload.parameters[i] for i in definition.parameter_ids
                      if i in self.preload.parameters and wanted in (self.preload.parameters[i].name,
                                                                      self.preload.parameters[i].netcdf_name)), None)
            if q is None:
                continue
            sub_plan: Plan | None = None
            if q.is_function:
                sub_plan = resolve(self.view, self.preload, cand.key, [q.id], self.time_range, settings=self.settings)
                if sub_plan.reason(q.id) is not None:
                    continue
            elif q.name not in self.view.columns(cand.key):
                continue
            return ExternalSource(name, ExternalInput(
                key=cand.key, parameter_id=q.id, parameter=q.name, column=f"{cand.key.stream}-{q.name}",
                same_instrument=cand.key.refdes == self.key.refdes,
                interpolation="linear" if q.dtype.kind == "f" else "last-seen",
                colocation=cand.colocation, plan=sub_plan))
        return None

    def values(self, source: ExternalSource, times: np.ndarray, numbers: np.ndarray) -> np.ndarray:
        """The source interpolated onto ``times`` (records of deployments ``numbers``), float with NaN."""

        def sub_compute(plan: Plan, time_range: TimeRange) -> ComputedSlice:
            return compute(self.view, self.preload, plan, time_range=time_range, settings=self.settings)

        def extent(key: StreamKey) -> tuple[float, float] | None:
            coverage = self.view.coverage(key)
            return None if coverage is None else (float(coverage.first), float(coverage.last))

        inputs, _ = external_inputs([source.external], times, numbers, self.preload,
                                    float(self.settings["MAX_INTERPOLATION_GAP"]), sub_compute, extent)
        return np.asarray(inputs[source.external.column], dtype=np.float64)


def local_parameter(parameters: list[Parameter], name: str) -> Parameter | None:
    """The stream's parameter called ``name`` (preload or output name)."""
    return next((p for p in parameters if name in (p.name, p.netcdf_name)), None)
