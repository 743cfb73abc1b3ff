"""The validation layer every settings dataclass uses (gainnet.core.validation)."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
import pytest

import gainnet
from gainnet.core.registry import build_params
from gainnet.core.validation import (
    MAX_ARRAY_BYTES,
    Validated,
    check_allocation,
    check_int_arg,
    setting,
)
from gainnet.errors import InvalidConfigError


@dataclasses.dataclass(frozen=True)
class Example(Validated):
    hidden: int = setting(128, low=1, high=4096)
    rate: float = setting(1e-3, gt=0, high=1.0)
    flag: bool = False
    mode: Literal["a", "b"] = "a"
    gains: float | tuple[float, ...] = setting(1.0, low=0, max_items=4)
    name: str | None = None
    table: dict = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        if self.mode == "b" and self.flag:
            raise InvalidConfigError("mode 'b' cannot be flagged")


def test_valid_values_are_converted_to_their_canonical_type():
    ex = Example(hidden=np.int64(7), rate=1, gains=[1, 2.5], table={"x": 1})
    assert ex.hidden == 7 and type(ex.hidden) is int
    assert ex.rate == 1.0 and type(ex.rate) is float
    assert ex.gains == (1.0, 2.5)
    assert Example(hidden=1e3).hidden == 1000  # an integral float is an integer
    assert Example(gains=np.array([0.5])).gains == (0.5,)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("hidden", 1.5, "an integer in [1, 4096]"),
        ("hidden", True, "an integer"),
        ("hidden", "3", "an integer"),
        ("hidden", 10**9, "in [1, 4096]"),
        ("hidden", 0, "in [1, 4096]"),
        ("rate", math.nan, "a finite number > 0 and <= 1"),
        ("rate", math.inf, "finite"),
        ("rate", -1.0, "> 0"),
        ("rate", 1e30, "<= 1"),
        ("rate", "abc", "a finite number"),
        ("flag", "yes", "true or false"),
        ("flag", 1, "true or false"),
        ("mode", "c", "one of 'a', 'b'"),
        ("gains", [1.0] * 5, "at most 4"),
        ("gains", [-1.0], ">= 0"),
        ("name", 3, "a string"),
        ("table", [1], "a table"),
    ],
)
def test_a_bad_value_names_the_field_the_value_and_what_is_allowed(field, value, allowed):
    with pytest.raises(InvalidConfigError) as info:
        Example(**{field: value})
    message = str(info.value)
    assert message.startswith(f"Example.{field}") and allowed in message
    assert info.value.field.startswith(f"Example.{field}")


def test_cross_field_checks_run_after_the_fields():
    with pytest.raises(InvalidConfigError, match="cannot be flagged"):
        Example(mode="b", flag=True)


def test_build_params_prefixes_the_owner_and_lists_unknown_keys():
    with pytest.raises(InvalidConfigError, match=r"^solver 'x': Example.hidden must be"):
        build_params(Example, {"hidden": 1.5}, "solver 'x'")
    with pytest.raises(InvalidConfigError, match=r"^solver 'x': mode 'b' cannot"):
        build_params(Example, {"mode": "b", "flag": True}, "solver 'x'")
    with pytest.raises(gainnet.UnknownNameError, match="hiden"):
        build_params(Example, {"hiden": 3}, "solver 'x'")
    with pytest.raises(InvalidConfigError, match="a table"):
        build_params(Example, [("hidden", 3)], "solver 'x'")


def test_counts_must_be_integers_and_allocations_bounded():
    assert check_int_arg(np.int32(3), "n") == 3
    for bad in (2.5, 3.0, "3", True, None, 0):
        with pytest.raises(InvalidConfigError, match="n must be an integer"):
            check_int_arg(bad, "n")
    check_allocation("small", MAX_ARRAY_BYTES // 8)
    with pytest.raises(InvalidConfigError, match="GiB"):
        check_allocation("training set (num_labels x 10)", 1e12)


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True, 2**64])
def test_seeds_are_checked(bad):
    with pytest.raises(InvalidConfigError, match="seed"):
        gainnet.rng_for(bad, "train")


def test_streams_are_named_by_strings():
    with pytest.raises(InvalidConfigError, match="stream"):
        gainnet.rng_for(0, 5)


@pytest.mark.parametrize(
    "kwargs",
    [{"steps": 1.5}, {"steps": 0}, {"seconds": math.nan}, {"steps": 10, "expert_labels": -1}, {}],
)
def test_budgets_are_checked(kwargs):
    with pytest.raises(InvalidConfigError):
        gainnet.Budget(**kwargs)
