"""Aggregators of gainnet.federated against hand values and against Flower's built-ins."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gainnet.errors import GainnetError
from gainnet.federated.aggregation import (
    aggregate,
    coordinate_median,
    krum_select,
    multi_krum_keep,
    trimmed_mean,
    weighted_mean,
)


def sites(*rows: list[float]) -> list[dict[str, np.ndarray]]:
    """One update per row: ``a`` holds the first two numbers, ``b`` the rest."""
    return [
        {"a": np.array(r[:2], np.float32), "b": np.array(r[2:], np.float32).reshape(-1, 1)}
        for r in rows
    ]


def as_lists(weights: dict[str, np.ndarray]) -> dict[str, list]:
    return {k: np.asarray(v).ravel().tolist() for k, v in weights.items()}


def random_updates(seed: int, m: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "w": rng.standard_normal((3, 4)).astype(np.float32),
            "b": rng.standard_normal(5).astype(np.float32),
        }
        for _ in range(m)
    ]


# --------------------------------------------------------------------- hand values
def test_weighted_mean_by_hand():
    updates = sites([1, 2, 3, 4], [3, 4, 5, 6], [5, 6, 7, 8])
    out = weighted_mean(updates, [1, 1, 2])  # factors 1/4, 1/4, 1/2
    assert as_lists(out) == {"a": [3.5, 4.5], "b": [5.5, 6.5]}
    assert out["a"].dtype == np.float32 and out["b"].shape == (2, 1)


def test_weighted_mean_does_not_modify_the_updates():
    updates = sites([1, 2, 3], [3, 4, 5])
    before = [as_lists(u) for u in updates]
    weighted_mean(updates, [1, 3])
    assert [as_lists(u) for u in updates] == before


def test_coordinate_median_by_hand():
    odd = sites([1, 9, 0], [5, 2, 7], [3, 4, -1])
    assert as_lists(coordinate_median(odd)) == {"a": [3.0, 4.0], "b": [0.0]}
    even = sites([1, 9, 0], [5, 2, 7], [3, 4, -1], [100, 0, 2])
    assert as_lists(coordinate_median(even)) == {"a": [4.0, 3.0], "b": [1.0]}


def test_trimmed_mean_by_hand():
    updates = sites([1, 10, 0], [2, 20, 0], [3, 30, 3], [4, 40, 6], [100, -50, 11])
    # cut 0.2 of 5 = 1 at each end: drop each coordinate's smallest and largest value
    assert as_lists(trimmed_mean(updates, 0.2)) == {"a": [3.0, 20.0], "b": [3.0]}
    # int(0.39 * 5) = 1 as well; cut 0 is the plain mean
    assert as_lists(trimmed_mean(updates, 0.39)) == {"a": [3.0, 20.0], "b": [3.0]}
    assert as_lists(trimmed_mean(updates, 0.0)) == {"a": [22.0, 10.0], "b": [4.0]}


# four sites whose flat vectors are (0,0,0), (1,0,0), (0,2,0), (10,10,10):
# squared distances d01 = 1, d02 = 4, d12 = 5, d03 = 300, d13 = 281, d23 = 264
KRUM_SITES = sites([0, 0, 0], [1, 0, 0], [0, 2, 0], [10, 10, 10])


def test_krum_scores_by_hand():
    # f = 0: each score sums the 2 nearest: 5, 6, 9, 545
    assert krum_select(KRUM_SITES, 0, 1) == [0]
    assert krum_select(KRUM_SITES, 0, 2) == [0, 1]
    assert krum_select(KRUM_SITES, 0, 3) == [0, 1, 2]
    # f = 1: 1 nearest: 1, 1, 4, 264 -- the outlier is last whatever the order of the tie
    assert sorted(krum_select(KRUM_SITES, 1, 3)) == [0, 1, 2]
    assert krum_select(KRUM_SITES, 1, 4)[-1] == 3


def test_aggregate_every_method_by_hand():
    n = [1, 1, 1, 1]
    mean, used = aggregate("mean", KRUM_SITES, n)
    assert used == [0, 1, 2, 3] and as_lists(mean) == {"a": [2.75, 3.0], "b": [2.5]}
    median, used = aggregate("median", KRUM_SITES, n)
    assert used == [0, 1, 2, 3] and as_lists(median) == {"a": [0.5, 1.0], "b": [0.0]}
    trimmed, used = aggregate("trimmed-mean", KRUM_SITES, n, trim_fraction=0.25)
    assert used == [0, 1, 2, 3] and as_lists(trimmed) == {"a": [0.5, 1.0], "b": [0.0]}
    krum, used = aggregate("krum", KRUM_SITES, n)
    assert used == [0] and as_lists(krum) == {"a": [0.0, 0.0], "b": [0.0]}
    multi, used = aggregate("multi-krum", KRUM_SITES, [1, 3, 1, 1], multi_krum_count=2)
    assert used == [0, 1] and as_lists(multi) == {"a": [0.75, 0.0], "b": [0.0]}
    # default count: m - f = 4 - 1 = 3 updates, the outlier left out, then weighted by examples
    multi, used = aggregate("multi-krum", KRUM_SITES, [1, 1, 2, 1], num_malicious=1)
    assert sorted(used) == [0, 1, 2]
    assert as_lists(multi) == {"a": [0.25, 1.0], "b": [0.0]}
    assert multi_krum_keep(4, 1) == 3 and multi_krum_keep(2, 5) == 1


# --------------------------------------------------------------------- errors
def test_aggregators_refuse_bad_input():
    good = sites([1, 2, 3], [4, 5, 6])
    for method in ("mean", "median", "trimmed-mean", "krum", "multi-krum"):
        with pytest.raises(GainnetError, match="no site update"):
            aggregate(method, [], [])
        with pytest.raises(GainnetError, match="names or shapes"):
            aggregate(method, [good[0], {"a": good[1]["a"], "c": good[1]["b"]}], [1, 1])
        with pytest.raises(GainnetError, match="names or shapes"):
            aggregate(method, [good[0], {"a": good[1]["a"], "b": np.zeros(3, np.float32)}], [1, 1])
        with pytest.raises(GainnetError, match="names or shapes"):
            aggregate(method, [good[0], {"a": good[1]["a"]}], [1, 1])
    with pytest.raises(GainnetError, match="trim fraction"):
        trimmed_mean(good, 0.5)
    with pytest.raises(GainnetError, match="trim fraction"):
        trimmed_mean(good, -0.1)
    with pytest.raises(GainnetError, match="positive total"):
        weighted_mean(good, [0, 0])
    with pytest.raises(GainnetError, match="positive total"):
        weighted_mean(good, [float("nan"), 1])
    with pytest.raises(GainnetError, match="unknown aggregator"):
        aggregate("fedbuff", good, [1, 1])


# --------------------------------------------------------------------- against Flower
@pytest.fixture(scope="module")
def flower():
    """Flower's record types and aggregation functions (its import warns about click)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        flwr_app = pytest.importorskip("flwr.app")
        from flwr.app.message.array import Array
        from flwr.serverapp.strategy.fedtrimmedavg import trim_mean
        from flwr.serverapp.strategy.multikrum import select_multikrum
        from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords

    def records(updates, num_examples):
        return [
            flwr_app.RecordDict(
                {
                    "arrays": flwr_app.ArrayRecord(array_dict={k: Array(v) for k, v in u.items()}),
                    "metrics": flwr_app.MetricRecord({"num-examples": n}),
                }
            )
            for u, n in zip(updates, num_examples, strict=True)
        ]

    return {
        "records": records,
        "fedavg": aggregate_arrayrecords,
        "trim_mean": trim_mean,
        "multikrum": select_multikrum,
    }


def assert_same(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> None:
    assert list(ours) == list(theirs)
    for k in ours:
        assert ours[k].dtype == theirs[k].dtype and ours[k].shape == theirs[k].shape
        np.testing.assert_array_equal(ours[k], theirs[k])


@pytest.mark.parametrize("m", [3, 4, 5])
def test_weighted_mean_equals_flower_fedavg(flower, m):
    updates = random_updates(m, m)
    num_examples = [int(n) for n in np.random.default_rng(100 + m).integers(1, 500, m)]
    theirs = flower["fedavg"](flower["records"](updates, num_examples), "num-examples")
    assert_same(weighted_mean(updates, num_examples), {k: v.numpy() for k, v in theirs.items()})


@pytest.mark.parametrize("m", [3, 4, 5])
def test_coordinate_median_equals_flower_fedmedian(flower, m):
    updates = random_updates(10 + m, m)
    # FedMedian.aggregate_train: np.asarray(np.median(np.stack(layers), axis=0)) per array
    theirs = {
        k: np.asarray(np.median(np.stack([u[k] for u in updates]), axis=0)) for k in updates[0]
    }
    assert_same(coordinate_median(updates), theirs)


@pytest.mark.parametrize(("m", "cut"), [(3, 0.0), (4, 0.25), (5, 0.2), (5, 0.45)])
def test_trimmed_mean_equals_flower_trim_mean(flower, m, cut):
    updates = random_updates(20 + m, m)
    theirs = {k: flower["trim_mean"](np.stack([u[k] for u in updates]), cut) for k in updates[0]}
    assert_same(trimmed_mean(updates, cut), theirs)


@pytest.mark.parametrize(("m", "f", "keep"), [(3, 0, 1), (4, 1, 1), (5, 1, 4), (5, 2, 3)])
def test_krum_select_equals_flower_multikrum(flower, m, f, keep):
    updates = random_updates(30 + m, m)
    updates[-1] = {k: v + 5.0 for k, v in updates[-1].items()}  # an outlier
    contents = flower["records"](updates, [1] * m)
    chosen = flower["multikrum"](contents, f, keep)
    theirs = [next(i for i, c in enumerate(contents) if c is x) for x in chosen]
    ours = krum_select(updates, f, keep)
    assert ours == theirs
    assert m - 1 not in ours
    # and the aggregate over the kept updates is Flower's FedAvg over them
    method = "krum" if keep == 1 else "multi-krum"
    new, used = aggregate(method, updates, [1.0] * m, num_malicious=f, multi_krum_count=keep)
    assert used == ours
    fedavg = flower["fedavg"](chosen, "num-examples")
    assert_same(new, {k: v.numpy() for k, v in fedavg.items()})
