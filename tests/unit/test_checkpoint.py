"""Checkpoints: safetensors + JSON, identical decisions after loading, clear errors otherwise."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
import torch

# diffusers (imported by the diffusion solvers) takes ~2 s: pay that at collection
from diffusers import DDIMScheduler  # noqa: F401

import gainnet
from gainnet.core.integrity import write_manifest


@pytest.fixture(scope="module")
def saved_gdm(tmp_path_factory):
    """A tiny gdm fitted for 20 steps, saved; returns (path, solver, state, decisions)."""
    scenario = gainnet.make_scenario("power-allocation", preset="gdmopt")
    solver = gainnet.make_solver("gdm", scenario, seed=4, hidden=16, num_labels=512)
    solver.fit(gainnet.Budget(steps=20), expert=scenario.default_expert())
    path = solver.save(tmp_path_factory.mktemp("ckpt") / "gdm")
    state = scenario.sample(64, gainnet.rng_for(0, "eval"))
    return path, solver, state, solver.decide(state)


@pytest.fixture
def copy_of(saved_gdm, tmp_path):
    """A fresh copy of the saved gdm directory that a test may damage."""
    import shutil

    path = tmp_path / "copy"
    shutil.copytree(saved_gdm[0], path)
    return path


def _reseal(path):
    """Rewrite SHA256SUMS after a deliberate edit (as someone editing on purpose would), so
    the checks behind the manifest are tested too."""
    write_manifest(path, ["solver.json", "weights.safetensors"])


def _edit_json(path, change):
    meta = json.loads((path / "solver.json").read_text())
    change(meta)
    (path / "solver.json").write_text(json.dumps(meta))
    _reseal(path)


def _edit_tensors(path, change):
    """Apply ``change`` to the saved tensors dict, rewrite the file and reseal."""
    from safetensors.torch import load, save

    weights = path / "weights.safetensors"
    tensors = load(weights.read_bytes())
    change(tensors)
    weights.write_bytes(save(tensors))
    _reseal(path)


def test_save_writes_json_and_safetensors_only(saved_gdm):
    path, solver, _, _ = saved_gdm
    assert sorted(p.name for p in path.iterdir()) == [
        "SHA256SUMS",
        "solver.json",
        "weights.safetensors",
    ]
    sums = dict(line.split("  ")[::-1] for line in (path / "SHA256SUMS").read_text().splitlines())
    import hashlib

    for name in ("solver.json", "weights.safetensors"):
        assert sums[name] == hashlib.sha256((path / name).read_bytes()).hexdigest()
    meta = json.loads((path / "solver.json").read_text())
    assert meta["format"] == "gainnet-solver" and meta["format_version"] == 1
    assert meta["solver"] == "gdm" and meta["seed"] == 4 and meta["fitted"] is True
    assert meta["config"]["hidden"] == 16
    assert meta["scenario"] == solver.scenario.config()
    assert meta["tensors"] == sorted(solver.weights())
    # safetensors layout: an 8-byte little-endian header length, then a JSON header
    raw = (path / "weights.safetensors").read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    assert set(header) - {"__metadata__"} == set(meta["tensors"])
    assert not raw.startswith((b"PK", b"\x80")), "a zip or pickle, not safetensors"


def test_load_gives_identical_decisions(saved_gdm):
    path, solver, state, decisions = saved_gdm
    loaded = gainnet.load_solver(path)
    assert type(loaded) is type(solver) and loaded.fitted and loaded.seed == 4
    assert loaded.scenario.config() == solver.scenario.config()
    np.testing.assert_array_equal(loaded.decide(state), decisions)
    for key, value in solver.weights().items():
        assert torch.equal(loaded.weights()[key], value), key


def test_loading_never_unpickles(saved_gdm, monkeypatch):
    path, _, state, decisions = saved_gdm

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used while loading a checkpoint")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    np.testing.assert_array_equal(gainnet.load_solver(path).decide(state), decisions)


def test_gdm_reward_checkpoint_keeps_its_critic(tmp_path):
    scenario = gainnet.make_scenario("power-allocation", preset="gdmopt")
    solver = gainnet.make_solver(
        "gdm-reward", scenario, seed=1, hidden=16, critic_hidden=16, batch_size=64
    )
    solver.fit(gainnet.Budget(steps=5))
    loaded = gainnet.load_solver(solver.save(tmp_path / "r"))
    for key, value in solver.critic.state_dict().items():
        assert torch.equal(loaded.critic.state_dict()[key], value), key
    state = scenario.sample(16, gainnet.rng_for(0, "eval"))
    np.testing.assert_array_equal(loaded.decide(state), solver.decide(state))


def test_weightless_solvers_round_trip(tmp_path, gdmopt):
    solver = gainnet.make_solver("random", gdmopt, seed=8)
    loaded = gainnet.load_solver(solver.save(tmp_path / "random"))
    state = gdmopt.sample(5, gainnet.rng_for(0, "eval"))
    np.testing.assert_array_equal(loaded.decide(state), solver.decide(state))
    assert loaded.fitted is False  # the flag is what was saved, not a guess


# ----------------------------------------------------------------------------- refusals


def test_missing_directory(tmp_path):
    with pytest.raises(gainnet.CheckpointError, match=r"solver\.json is missing"):
        gainnet.load_solver(tmp_path / "does-not-exist")


def test_missing_weights(copy_of):
    (copy_of / "weights.safetensors").unlink()
    with pytest.raises(gainnet.CheckpointError, match=r"weights\.safetensors is missing"):
        gainnet.load_solver(copy_of)


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: b"\x00\xffgarbage, not tensors" * 20,
        lambda raw: raw[: len(raw) // 2],  # truncated
        lambda raw: b"",
        lambda raw: pickle.dumps({"weights": 1}),
    ],
    ids=["garbage", "truncated", "empty", "pickle"],
)
@pytest.mark.parametrize("reseal", [False, True], ids=["as-found", "resealed"])
def test_corrupt_weights(copy_of, damage, reseal):
    weights = copy_of / "weights.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    if reseal:
        _reseal(copy_of)
    with pytest.raises(gainnet.CheckpointError, match=r"weights\.safetensors"):
        gainnet.load_solver(copy_of)


def test_flipped_bytes_are_caught_by_the_manifest(copy_of):
    weights = copy_of / "weights.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-64:-48] = bytes(16)  # 16 bytes of the tensor data
    weights.write_bytes(bytes(raw))
    with pytest.raises(gainnet.CheckpointError, match="does not match its recorded SHA-256"):
        gainnet.load_solver(copy_of)


def test_edited_json_is_caught_by_the_manifest(copy_of):
    meta_path = copy_of / "solver.json"
    meta_path.write_text(meta_path.read_text().replace('"hidden": 16', '"hidden": 16 '))
    with pytest.raises(gainnet.CheckpointError, match=r"solver\.json does not match"):
        gainnet.load_solver(copy_of)


def test_a_missing_or_malformed_manifest_is_refused(copy_of):
    (copy_of / "SHA256SUMS").write_text("not a manifest\n")
    with pytest.raises(gainnet.CheckpointError, match="line 1"):
        gainnet.load_solver(copy_of)
    (copy_of / "SHA256SUMS").unlink()
    with pytest.raises(gainnet.CheckpointError, match="has no SHA256SUMS"):
        gainnet.load_solver(copy_of)


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_weights_are_refused(copy_of, value):
    def poison(tensors):
        name = sorted(k for k, v in tensors.items() if v.is_floating_point())[0]
        tensors[name].view(-1)[0] = value

    _edit_tensors(copy_of, poison)
    with pytest.raises(gainnet.CheckpointError, match="NaN or infinite"):
        gainnet.load_solver(copy_of)


def test_reshaped_or_retyped_tensors_are_refused_before_loading(copy_of):
    name = json.loads((copy_of / "solver.json").read_text())["tensors"][0]
    _edit_tensors(copy_of, lambda t: t.update({name: t[name].reshape(-1)}))
    with pytest.raises(gainnet.CheckpointError, match=f"tensor '{name}' is F32"):
        gainnet.load_solver(copy_of)
    _edit_tensors(copy_of, lambda t: t.update({name: t[name].double()}))
    with pytest.raises(gainnet.CheckpointError, match=f"tensor '{name}' is F64"):
        gainnet.load_solver(copy_of)


def test_unexpected_tensors_are_refused(copy_of):
    def add(tensors):
        tensors["extra"] = torch.zeros(3)

    _edit_tensors(copy_of, add)
    _edit_json(copy_of, lambda m: m["tensors"].append("extra"))
    with pytest.raises(gainnet.CheckpointError, match=r"unexpected \['extra'\]"):
        gainnet.load_solver(copy_of)


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m["config"].update(hidden=10**9),
        lambda m: m["config"].update(layers=100_000),
        lambda m: m["config"].update(num_samples=10**8),
        lambda m: m["config"].update(num_labels=10**12),
        lambda m: m["scenario"]["params"].update(num_channels=10**9),
    ],
    ids=["hidden", "layers", "num_samples", "num_labels", "num_channels"],
)
def test_huge_sizes_in_the_json_are_refused_before_any_allocation(copy_of, change):
    _edit_json(copy_of, change)
    with pytest.raises(gainnet.CheckpointError, match="cannot rebuild the saved solver"):
        gainnet.load_solver(copy_of)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (lambda good: good[: len(good) // 2], "not valid JSON"),
        (lambda good: "", "not valid JSON"),
        (lambda good: b"\xff\xfe{".decode("latin-1"), "not valid JSON"),
        (lambda good: "[1, 2, 3]", "gainnet-solver"),
        (lambda good: good.replace('"gainnet-solver"', '"something-else"'), "gainnet-solver"),
        (lambda good: good.replace('"format_version": 1', '"format_version": 99'), "99"),
    ],
    ids=["truncated", "empty", "binary", "not-an-object", "wrong-format", "future-version"],
)
def test_malformed_json(copy_of, text, match):
    meta_path = copy_of / "solver.json"
    meta_path.write_text(text(meta_path.read_text()))
    _reseal(copy_of)
    with pytest.raises(gainnet.CheckpointError, match=match):
        gainnet.load_solver(copy_of)


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.pop("solver"),
        lambda m: m.pop("seed"),
        lambda m: m.pop("config"),
        lambda m: m.pop("scenario"),
        lambda m: m["scenario"].pop("name"),
        lambda m: m["scenario"].pop("params"),
        lambda m: m.update(scenario="power-allocation"),
        lambda m: m.update(config=[16]),
        lambda m: m.update(seed="four"),
        lambda m: m.update(seed=-4),
        lambda m: m.update(tensors=7),
        lambda m: m["config"].update(hidden="sixteen"),
        lambda m: m["scenario"]["params"].update(total_power_w=-3.0),
        lambda m: m["scenario"]["params"].update(num_channel=10),
    ],
    ids=[
        "no-solver",
        "no-seed",
        "no-config",
        "no-scenario",
        "no-scenario-name",
        "no-scenario-params",
        "scenario-not-an-object",
        "config-not-an-object",
        "seed-not-an-int",
        "negative-seed",
        "tensors-not-a-list",
        "hidden-not-an-int",
        "invalid-scenario-param",
        "unknown-scenario-param",
    ],
)
def test_malformed_fields_are_checkpoint_errors(copy_of, change):
    _edit_json(copy_of, change)
    with pytest.raises(gainnet.CheckpointError):
        gainnet.load_solver(copy_of)


def test_unknown_solver_name(copy_of):
    _edit_json(copy_of, lambda m: m.update(solver="gdm-v9"))
    with pytest.raises(gainnet.CheckpointError, match="gdm-v9") as info:
        gainnet.load_solver(copy_of)
    assert "known: " in str(info.value) and "gdm-reward" in str(info.value)


def test_unknown_config_key(copy_of):
    _edit_json(copy_of, lambda m: m["config"].update(width=16))
    with pytest.raises(gainnet.CheckpointError, match="width"):
        gainnet.load_solver(copy_of)


def test_weights_of_the_wrong_shape(copy_of):
    _edit_json(copy_of, lambda m: m["config"].update(hidden=32))
    with pytest.raises(gainnet.CheckpointError, match="does not fit solver 'gdm'"):
        gainnet.load_solver(copy_of)


def test_weights_for_a_scenario_of_another_size(copy_of):
    def change(meta):
        params = meta["scenario"]["params"]
        params.update(num_channels=5, gain_low=params["gain_low"][:5])
        params.update(gain_high=params["gain_high"][:5])

    _edit_json(copy_of, change)
    with pytest.raises(gainnet.CheckpointError, match="does not fit"):
        gainnet.load_solver(copy_of)


def test_tensor_list_must_match_the_file(copy_of):
    _edit_json(copy_of, lambda m: m["tensors"].append("denoiser.extra.weight"))
    with pytest.raises(gainnet.CheckpointError, match="does not hold the tensors"):
        gainnet.load_solver(copy_of)
