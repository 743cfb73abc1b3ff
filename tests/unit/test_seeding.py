"""One integer seed, named streams: independent, reproducible, and no global RNG."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import gainnet
from gainnet.core.seeding import STREAMS, int_seed_for, rng_for


def test_train_and_eval_streams_differ():
    train = rng_for(0, "train").standard_normal(1000)
    evaluation = rng_for(0, "eval").standard_normal(1000)
    assert not np.any(train == evaluation)
    # independent streams: sample correlation within ~5 standard errors (1/sqrt(1000)) of 0
    assert abs(np.corrcoef(train, evaluation)[0, 1]) < 5 / np.sqrt(1000)


def test_every_conventional_stream_is_distinct():
    first = {stream: rng_for(3, stream).integers(0, 2**62, size=4) for stream in STREAMS}
    for a, b in itertools.combinations(STREAMS, 2):
        assert not np.array_equal(first[a], first[b]), (a, b)


def test_same_inputs_reproduce_and_seeds_differ():
    np.testing.assert_array_equal(rng_for(42, "train").random(10), rng_for(42, "train").random(10))
    assert not np.any(rng_for(42, "train").random(10) == rng_for(43, "train").random(10))


def test_a_stream_does_not_depend_on_other_streams_being_used():
    expected = rng_for(5, "eval").random(8)
    rng_for(5, "train").random(1000)  # drawing from another stream changes nothing
    np.random.default_rng().random(10)
    np.testing.assert_array_equal(rng_for(5, "eval").random(8), expected)


def test_the_global_numpy_rng_is_untouched():
    before = np.random.get_state()  # noqa: NPY002
    rng_for(1, "train").random(100)
    int_seed_for(1, "solver")
    after = np.random.get_state()  # noqa: NPY002
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2] == after[2]


def test_int_seed_is_a_reproducible_63_bit_integer_per_stream():
    seeds = {stream: int_seed_for(9, stream) for stream in STREAMS}
    assert all(isinstance(s, int) and 0 <= s < 2**63 - 1 for s in seeds.values())
    assert len(set(seeds.values())) == len(STREAMS)
    assert int_seed_for(9, "train") == seeds["train"]


@pytest.mark.parametrize("seed", [-1, -100])
def test_negative_seeds_are_refused(seed):
    with pytest.raises(ValueError, match="seed"):
        rng_for(seed, "train")
    with pytest.raises(gainnet.GainnetError, match="seed"):
        gainnet.make_solver("uniform", gainnet.make_scenario("power-allocation"), seed=seed)


def test_numpy_integer_seeds_equal_python_ints():
    np.testing.assert_array_equal(
        rng_for(np.int64(7), "eval").random(4), rng_for(7, "eval").random(4)
    )
