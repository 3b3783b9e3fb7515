"""Write the curated preload dictionary: a consistent subset of the upstream one.

Usage (from the repository root)::

    .venv/bin/python preload_database/curate.py                       # default upstream, streams
    .venv/bin/python preload_database/curate.py --upstream DIR --out DIR [STREAM ...]
    .venv/bin/python preload_database/curate.py --streams-file FILE

What goes in, starting from the chosen streams (``STREAMS`` below unless given):

1. the streams, the source streams of virtual ones, and every stream named by a
   ``<stream>.PD<n>`` source (transitively);
2. every parameter those streams name, and every parameter their function maps reach,
   transitively: ``PD<n>``, ``<stream>.PD<n>`` and ``dpi_<ID>`` (all parameters carrying the ID);
3. for a product of a curated stream whose input no curated stream carries (no option of a
   priority list, for a required argument), every stream that carries it, repeated to a fixed
   point (so a FLORT stream chosen without any CTD brings in every CTD stream with the
   temperature and salinity it needs; choose the co-located CTD streams to keep the set small);
4. the functions of all those parameters; the bin sizes of the streams (one row per stream, with
   the value the loader would use); nominal depths of every designator whose sensor belongs to the
   instrument classes of the streams (``ctdbp_...`` -> ``CTDBP``; see ``CLASS_ALIASES``).

Rows are copied cell for cell in upstream order, with the header row and without the ``DOC``
rows, so the loader reads the result like the upstream folder. Two corrections make the subset
load without problems, each printed when applied: malformed ``args`` cells are rewritten as the
list the loader reads, and map arguments missing from a function's ``args`` (keyword arguments
of the newer ion-functions, e.g. ``sref``) are appended to it. The output depends only on the
inputs: running the script again gives byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from stream_engine.preload import (  # noqa: E402
    Calibration,
    Choice,
    Constant,
    ParameterRef,
    Preload,
    ProductRef,
    Source,
    StreamParameterRef,
    load_preload,
)
from stream_engine.preload.csv_rows import (  # noqa: E402
    BIN_SIZES_FILE,
    FUNCTIONS_FILE,
    NOMINAL_DEPTHS_FILE,
    PARAMETERS_FILE,
    STREAMS_FILE,
)

DEFAULT_UPSTREAM = REPO_ROOT.parent / "shared" / "ooi" / "preload"

#: The streams we compute, in three groups: the streams of the OOI sample files
#: (``../shared/ooi/samples/*.nc``, global attribute ``stream``, else the file name), the demo
#: streams, and the instrument families of the first data-products issue (CTD, DOSTA, FLORT,
#: PARAD, glider GPS). Names missing upstream are reported and skipped.
STREAMS = (
    # sample files
    "adcp_velocity_beam",
    "ctdgv_m_glider_instrument_recovered",
    "ctdpf_j_cspp_instrument_recovered",
    "dosta_abcdjm_cspp_instrument_recovered",
    "echo_sounding",
    "glider_gps_position",
    "metbk_a_dcl_instrument",
    "metbk_a_dcl_instrument_recovered",
    "metbk_hourly",
    "nutnr_a_sample",
    "nutnr_j_cspp_instrument_recovered",
    "parad_m_glider_recovered",
    "velpt_ab_dcl_instrument",
    "velpt_ab_dcl_instrument_recovered",
    # demo
    "ctdbp_cdef_instrument_recovered",
    "dosta_abcdjm_dcl_instrument_recovered",
    "flort_dj_dcl_instrument_recovered",
    # CTD: SBE16plus, SBE37IM, SBE52MP, glider
    "ctdbp_no_sample",
    "ctdmo_ghqr_sio_mule_instrument",
    "ctdmo_ghqr_instrument_recovered",
    "ctdpf_ckl_wfp_instrument",
    "ctdpf_ckl_wfp_instrument_recovered",
    "ctdgv_m_glider_instrument",
    # DOSTA
    "dosta_abcdjm_dcl_instrument",
    "dosta_abcdjm_glider_instrument",
    "dosta_abcdjm_glider_recovered",
    # FLORT
    "flort_sample",
    "flort_dj_dcl_instrument",
    "flort_m_glider_instrument",
    "flort_m_glider_recovered",
    # PARAD (upstream spells the STC stream with a double underscore)
    "parad_m_glider_instrument",
    "parad_k__stc_imodem_instrument",
)

#: Stream-name prefixes whose instrument class is not the prefix itself.
CLASS_ALIASES = {
    "glider": ("ENG",),
    "echo": ("HPIES",),
    "do": ("DOSTA",),
    "dpc": ("CTDPF", "DOSTA"),
}

_SENSOR_CLASS = re.compile(r"\d+-([A-Z]+)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("streams", nargs="*", help="stream names (default: the built-in list)")
    parser.add_argument(
        "--upstream", type=Path, default=DEFAULT_UPSTREAM, help="upstream preload folder"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent, help="output folder"
    )
    parser.add_argument("--streams-file", type=Path, help="file with one stream name a line")
    args = parser.parse_args(argv)
    names = list(args.streams)
    if args.streams_file:
        names += [n.strip() for n in args.streams_file.read_text().splitlines() if n.strip()]
    names = names or list(STREAMS)
    if not (args.upstream / PARAMETERS_FILE).is_file():
        print(f"no upstream preload at {args.upstream}; pass --upstream DIR", file=sys.stderr)
        return 2
    summary = curate(args.upstream, names, args.out)
    print(summary)
    return 0


def curate(upstream: Path, stream_names: Iterable[str], out: Path) -> str:
    """Write the subset of ``upstream`` for ``stream_names`` into ``out``; returns a summary line."""
    preload = load_preload(upstream)
    wanted = []
    for name in stream_names:
        if name in preload.streams:
            wanted.append(name)
        else:
            print(f"skipped: stream {name!r} is not in {upstream}", file=sys.stderr)
    streams, parameters = _closure(preload, set(wanted))
    functions = {preload.parameters[p].function_id for p in parameters} - {None}
    out.mkdir(parents=True, exist_ok=True)
    _write(upstream, out, PARAMETERS_FILE, lambda r: _id(r, "PD") in parameters)
    _write(upstream, out, STREAMS_FILE, lambda r: r["name"].strip() in streams)
    fixed_args = _function_args(preload, parameters)
    _write(upstream, out, FUNCTIONS_FILE, lambda r: _id(r, "PFID") in functions, fixed_args)
    _write_bins(upstream, out, streams)
    classes = _classes(streams)
    _write(upstream, out, NOMINAL_DEPTHS_FILE, lambda r: _sensor_class(r["designator"], classes))
    return (
        f"wrote {out}: {len(streams)} streams, {len(parameters)} parameters, {len(functions)} functions"
        f" (instrument classes: {', '.join(sorted(classes))})"
    )


def _options(source: Source) -> Iterator[Source]:
    if isinstance(source, Choice):
        yield from source.options
    else:
        yield source


def _referenced(preload: Preload, source: Source) -> list[int]:
    if isinstance(source, ParameterRef | StreamParameterRef):
        return [source.id] if source.id in preload.parameters else []
    if isinstance(source, ProductRef):
        return [p.id for p in preload.by_dpi(source.dpi)]
    return []


def _closure(preload: Preload, streams: set[str]) -> tuple[set[str], set[int]]:
    carriers: dict[int, list[str]] = {}
    for stream in preload.streams.values():
        for pid in stream.parameter_ids:
            carriers.setdefault(pid, []).append(stream.name)
    while True:
        parameters: set[int] = set()
        todo = [pid for name in streams for pid in preload.streams[name].parameter_ids]
        more: set[str] = set()
        while todo:
            pid = todo.pop()
            if pid in parameters:
                continue
            parameters.add(pid)
            for source in (preload.parameters[pid].function_map or {}).values():
                for option in _options(source):
                    todo.extend(_referenced(preload, option))
                    if isinstance(option, StreamParameterRef) and option.stream in preload.streams:
                        more.add(option.stream)
        for name in streams | more:
            more.update(preload.streams[name].source_streams)
        more |= _missing_carriers(preload, streams, carriers)
        if more <= streams:
            return streams, parameters
        streams |= more


def _missing_carriers(
    preload: Preload, streams: set[str], carriers: dict[int, list[str]]
) -> set[str]:
    carried = {pid for name in streams for pid in preload.streams[name].parameter_ids}
    needed: set[str] = set()
    for pid in sorted(carried):
        for source in (preload.parameters[pid].function_map or {}).values():
            options = list(_options(source))
            if isinstance(source, Choice) and source.optional:
                continue
            if any(_satisfied(preload, option, carried, streams) for option in options):
                continue
            for option in options:
                for ref in _referenced(preload, option):
                    needed.update(carriers.get(ref, ()))
    return needed


def _satisfied(preload: Preload, option: Source, carried: set[int], streams: set[str]) -> bool:
    if isinstance(option, Constant | Calibration):
        return True
    if isinstance(option, StreamParameterRef):
        return option.stream in streams
    return any(ref in carried for ref in _referenced(preload, option))


def _function_args(preload: Preload, parameters: set[int]) -> dict[str, str]:
    """Corrected ``args`` cells by function id cell (``PFID36``); see the module docstring."""
    extra: dict[int, list[str]] = {}
    for pid in sorted(parameters):
        parameter = preload.parameters[pid]
        function = preload.functions.get(parameter.function_id) if parameter.function_id else None
        if function is None or parameter.function_map is None:
            continue
        names = extra.setdefault(function.id, list(function.args))
        names.extend(arg for arg in parameter.function_map if arg not in names)
    malformed = {p.split(" ", 1)[0] for p in preload.problems if p.startswith("PFID")}
    return {
        f"PFID{fid}": repr(names)
        for fid, names in extra.items()
        if names != list(preload.functions[fid].args) or f"PFID{fid}" in malformed
    }


def _id(row: dict[str, str], prefix: str) -> int | None:
    m = re.fullmatch(prefix + r"(\d+)", row.get("id", "").strip())
    return int(m.group(1)) if m else None


def _classes(streams: set[str]) -> set[str]:
    classes: set[str] = set()
    for name in streams:
        prefix = name.split("_", 1)[0]
        classes.update(CLASS_ALIASES.get(prefix, (prefix.upper(),)))
    return classes


def _sensor_class(designator: str, classes: set[str]) -> bool:
    parts = designator.strip().split("-", 2)
    m = _SENSOR_CLASS.match(parts[2]) if len(parts) == 3 else None
    return bool(m) and any(m.group(1).startswith(c) for c in classes)


def _write(
    upstream: Path, out: Path, name: str, keep, fixed_args: dict[str, str] | None = None
) -> None:
    with (upstream / name).open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        columns = [h.strip().lower() for h in header]
        rows = []
        for cells in reader:
            row = dict(zip(columns, cells, strict=False))
            if row.get("scenario", "").strip().upper().startswith("DOC") or not keep(row):
                continue
            if fixed_args is not None:
                ident = row["id"].strip()
                if ident in fixed_args and fixed_args[ident] != row["args"]:
                    print(f"corrected: {ident} args {row['args']!r} -> {fixed_args[ident]!r}")
                    cells[columns.index("args")] = fixed_args[ident]
            rows.append(cells)
    with (out / name).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_bins(upstream: Path, out: Path, streams: set[str]) -> None:
    """The last row with a usable bin size of each stream (what the loader uses), upstream order."""
    with (upstream / BIN_SIZES_FILE).open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        chosen: dict[str, list[str]] = {}
        for cells in reader:
            row = dict(zip([h.strip().lower() for h in header], cells, strict=False))
            name, size = row.get("stream", "").strip(), row.get("binsize", "").strip()
            if name in streams and size.isdigit() and int(size) > 0:
                chosen.pop(name, None)
                chosen[name] = cells
    with (out / BIN_SIZES_FILE).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(chosen.values())


if __name__ == "__main__":
    sys.exit(main())
