"""Constraint expressions: parsing, URL decoding, bounds, unknown names, output order."""

from __future__ import annotations

import numpy as np
import pytest

from dap_handlers.constraints import Hyperslab, Projection, apply_constraint, parse_constraint
from dap_handlers.errors import ConstraintError, NoSuchVariable
from dap_handlers.model import DapDataset, DapVariable

TIME = np.arange(10.0) + 3.9e9
GRID = np.arange(30.0).reshape(10, 3)


@pytest.fixture
def dataset() -> DapDataset:
    return DapDataset(
        "ctd",
        [
            DapVariable.from_array("time", TIME, ["obs"]),
            DapVariable.from_array("spectra", GRID, ["obs", "wavelength"]),
            DapVariable.from_array("station", np.array(["a", "b"]), ["site"]),
        ],
    )


def test_three_hyperslab_forms_with_inclusive_stop():
    assert parse_constraint("time[3],time[2:5],time[0:2:8]") == [
        Projection("time", (Hyperslab(3, 1, 3),)),
        Projection("time", (Hyperslab(2, 1, 5),)),
        Projection("time", (Hyperslab(0, 2, 8),)),
    ]


@pytest.mark.parametrize(
    "query",
    ["spectra%5b1:2:7%5d%5b0:1%5d", "spectra%5B1:2:7%5D%5B0:1%5D", "spectra%5B1%3A2%3A7%5D[0%3A1]"],
)
def test_url_encoded_brackets_and_colons(dataset, query):
    constrained = apply_constraint(dataset, query)
    np.testing.assert_array_equal(constrained["spectra"].read(), GRID[1:8:2, 0:2])
    assert constrained["spectra"].shape == (4, 2)


def test_encoded_comma_and_whole_variable(dataset):
    constrained = apply_constraint(dataset, "station%2Ctime%5b9%5d")
    assert [v.name for v in constrained] == ["time", "station"]
    np.testing.assert_array_equal(constrained["time"].read(), TIME[9:10])
    np.testing.assert_array_equal(constrained["station"].read(), ["a", "b"])


def test_output_is_in_declaration_order_not_request_order(dataset):
    constrained = apply_constraint(dataset, "station,spectra[0:1][2],time[0:4]")
    assert [v.name for v in constrained] == ["time", "spectra", "station"]


def test_empty_constraint_is_every_variable(dataset):
    assert apply_constraint(dataset, "") is dataset
    assert apply_constraint(dataset, "&") is dataset


def test_fewer_hyperslabs_leave_trailing_dimensions_whole(dataset):
    constrained = apply_constraint(dataset, "spectra[2:3]")
    np.testing.assert_array_equal(constrained["spectra"].read(), GRID[2:4])


def test_netcdf_c_structure_form_of_an_array_name(dataset):
    assert [v.name for v in apply_constraint(dataset, "time.time[0:1]")] == ["time"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("time[5:2]", r"starts after it stops.*\[2:5\]"),
        ("time[0:10]", r"out of range: dimension 'obs' has 10 elements \(indices 0 to 9\)"),
        ("time[10]", "out of range"),
        ("time[0:0:3]", "stride 0"),
        ("time[a]", "malformed hyperslab in 'time\\[a\\]'"),
        ("time[-1]", "malformed hyperslab"),
        ("time[1][2]", r"gives 2 hyperslabs but 'time' has 1 dimension"),
        ("time[1],time[2]", "projected twice"),
        ("time&temperature>3", "only time can be selected by value"),
        ("time%3E3.9e9", "does not support selections on time"),
        ("time&time!=3.9e9", "operators <, <=, >, >= and = only"),
        ("time&time>=yesterday", "neither a number .* nor an ISO 8601 date"),
        ("time&time>=", "neither a number"),
        ("mean(time)", "server-side functions are not supported"),
        ("[0:1]", "expected a variable name"),
    ],
)
def test_bad_constraints_are_400_with_code_1005(dataset, query, message):
    with pytest.raises(ConstraintError, match=message) as caught:
        apply_constraint(dataset, query)
    assert caught.value.status == 400
    assert caught.value.dap_code == 1005


def test_same_projection_twice_is_merged(dataset):
    constrained = apply_constraint(dataset, "time[1:2],time[1:1:2]")
    np.testing.assert_array_equal(constrained["time"].read(), TIME[1:3])


def test_unknown_variable_is_404_with_code_1004(dataset):
    with pytest.raises(
        NoSuchVariable, match="no variable 'salinity'.*time, spectra, station"
    ) as caught:
        apply_constraint(dataset, "time,salinity[0:1]")
    assert caught.value.status == 404
    assert caught.value.dap_code == 1004
