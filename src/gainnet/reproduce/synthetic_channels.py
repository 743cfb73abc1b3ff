"""Synthetic channels validated downstream (seed 004, experiment 2): train on synthetic, test
on real.

Real channels are Sionna UMa and UMi drops (:data:`SCENARIOS`, generated into
``out/datasets`` and reused by later runs). Each drop's sector is split by azimuth: users in
:data:`TRAIN_REGION_DEG` are the observed part of the cell, the rest (:data:`HELD_OUT_REGION_DEG`)
a region no generator sees. Per scenario, the observed part gives a real test set, a small real
slice (the generators' only training data) and a pool whose conditions (positions, LoS, indoor:
what a base station knows) the generators are asked to fill with channels; the held-out region
gives its own test set and pool.

Two conditional generators (:mod:`gainnet.synthetic`), trained on the small slice of both
scenarios at once (the scenario is part of the condition): a diffusion model (DDIM sampling)
and a WGAN-GP. Fidelity (:mod:`gainnet.synthetic.fidelity`) is measured at the test sets'
conditions against the real test channels, with a second real set as the reference row.
Each downstream task (:mod:`gainnet.synthetic.downstream`) is trained on every regime of
:data:`REGIMES` and scored on the same real test channels, in the observed part and in the
held-out region. ``run_synthetic_channels`` writes ``results.json``, ``fidelity.csv``,
``tstr.csv``, ``real_data_curve.csv``, ``spectra.png``, ``nmse_vs_real.png``, ``report.md``
and the trained generators (``generators/diffusion``, ``generators/gan``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gainnet.channels import ChannelConfig, generate_dataset
from gainnet.core.seeding import int_seed_for, rng_for
from gainnet.synthetic import downstream
from gainnet.synthetic.conditions import conditions_from_metadata, in_region
from gainnet.synthetic.fidelity import METRICS, fidelity_metrics
from gainnet.synthetic.generator import ChannelGenerator, GeneratorConfig
from gainnet.synthetic.representation import ChannelShape

SCENARIOS = ("uma", "umi")
GENERATORS = ("diffusion", "gan")
#: training sets of every task: real only (small slice, all observed channels), synthetic only,
#: the small slice plus synthetic channels, and the small slice plus noisy copies of itself
REGIMES = (
    "real_small",
    "synthetic",
    "real_small_plus_synthetic",
    "real_small_plus_noise",
    "real_full",
)
TRAIN_REGION_DEG = (0.0, 90.0)
HELD_OUT_REGION_DEG = (90.0, 120.0)
#: SNR of the noisy copies of the noise-augmentation baseline (dB, per channel)
NOISE_AUGMENTATION_SNR_DB = 20.0
CSI_RATIO = "1/16"


def _sizes(quick: bool) -> dict:
    if quick:
        return {
            "channels": 2500,
            "antennas": 16,
            "subcarriers": 64,
            "taps": 16,
            "test": 300,
            "small": 250,
            "hidden": 256,
            "diffusion_steps": 2000,
            "gan_steps": 200,
            "task_steps": 200,
            "curve": (2,),
        }
    return {
        "channels": 16_000,
        "antennas": 32,
        "subcarriers": 256,
        "taps": 32,
        "test": 1000,
        "small": 1000,
        "hidden": 512,
        "diffusion_steps": 6000,
        "gan_steps": 600,
        "task_steps": 1000,
        "curve": (3, 6),
    }


def generator_config(kind: str, sizes: dict) -> GeneratorConfig:
    """The case study's settings of a generator (the GAN's Adam step is WGAN-GP's 2e-4)."""
    if kind == "diffusion":
        return GeneratorConfig(
            kind="diffusion",
            hidden=sizes["hidden"],
            steps=sizes["diffusion_steps"],
            latent_energy=0.99,
        )
    return GeneratorConfig(
        kind="gan",
        hidden=sizes["hidden"],
        steps=sizes["gan_steps"],
        learning_rate=2e-4,
        latent_energy=0.99,
    )


def run_synthetic_channels(
    out_dir: str | Path,
    quick: bool = False,
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
    sizes: dict | None = None,
) -> dict:
    """Run the case study; returns the ``results.json`` dict. ``progress(status, fraction)``;
    ``sizes`` overrides entries of the quick or full sizes (tests run it tiny)."""
    from gainnet.errors import InvalidConfigError
    from gainnet.reproduce.synthetic_channels_report import write_outputs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    defaults = _sizes(quick)
    unknown = sorted(set(sizes or {}) - set(defaults))
    if unknown:
        raise InvalidConfigError(f"unknown sizes {unknown}; known: {sorted(defaults)}")
    sizes = defaults | (sizes or {})
    tell = progress or (lambda status, fraction: None)
    tell("generating real channels", 0.0)
    data = load_splits(sizes, seed, out / "datasets")
    shape = ChannelShape(sizes["antennas"], sizes["subcarriers"], sizes["taps"])
    generators, synthetic, speed = {}, {}, {}
    for i, kind in enumerate(GENERATORS):
        tell(f"training the {kind} generator", 0.05 + 0.3 * i / len(GENERATORS))
        generator = ChannelGenerator(generator_config(kind, sizes), shape, len(SCENARIOS), seed)
        generator.fit(data["small"]["h"], data["small"]["c"])
        generator.save(out / "generators" / kind)  # for `gainnet synthetic generate`
        generators[kind] = generator
        rng = rng_for(seed, f"generate-{kind}")
        synthetic[kind] = {}
        for part in ("pool", "test", "region_pool", "region_test"):
            start = time.perf_counter()
            synthetic[kind][part] = generator.generate(data[part]["c"], rng)
            if part == "pool":
                seconds = time.perf_counter() - start
                speed[kind] = {
                    "channels": len(data[part]["c"]),
                    "seconds": seconds,
                    "channels_per_second": len(data[part]["c"]) / seconds,
                }
    tell("fidelity", 0.4)
    fidelity = {
        "observed": fidelity_table(data, synthetic, "test", "pool", sizes, seed),
        "held_out_region": fidelity_table(
            data, synthetic, "region_test", "region_pool", sizes, seed
        ),
    }
    tell("train on synthetic, test on real", 0.5)
    tstr = {}
    places = (("observed", "test", "pool"), ("held_out_region", "region_test", "region_pool"))
    for j, (where, test, pool) in enumerate(places):
        tstr[where] = run_tasks(
            data, synthetic, test, pool, sizes, seed, lambda s, f, j=j: tell(s, 0.5 + 0.2 * (j + f))
        )
    tell("NMSE against the amount of real data", 0.9)
    curve = real_data_curve(data, tstr["observed"], sizes, seed)
    results = {
        "quick": quick,
        "seed": seed,
        "sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in sizes.items()},
        "scenarios": list(SCENARIOS),
        "csi_ratio": CSI_RATIO,
        "regions_deg": {
            "observed": list(TRAIN_REGION_DEG),
            "held_out": list(HELD_OUT_REGION_DEG),
        },
        "datasets": data["digests"],
        "counts": {k: len(v["h"]) for k, v in data.items() if isinstance(v, dict) and "h" in v},
        "generators": {
            k: {
                "config": dataclasses.asdict(g.config),
                "training": g.training,
                "latent_dim": g.latent_dim,
            }
            for k, g in generators.items()
        },
        "generation_speed": speed,
        "fidelity": fidelity["observed"],
        "tstr": tstr["observed"],
        "held_out_region": {
            "fidelity": fidelity["held_out_region"],
            "tstr": tstr["held_out_region"],
        },
        "real_data_curve": curve,
        "spectra": spectra(data, synthetic, sizes),
    }
    results["targets"] = targets(results)
    write_outputs(out, results)
    tell("done", 1.0)
    return results


def load_splits(sizes: dict, seed: int, folder: Path) -> dict:
    """Generate (or reuse) each scenario's drops and split them; per part ``{"h", "c"}`` with
    the scenarios pooled: ``test``, ``small``, ``pool`` (observed region), ``region_test``,
    ``region_pool`` (held-out region); ``full`` = ``small`` + ``pool``; and the datasets'
    ``digests`` and ``subcarrier_spacing_hz``."""
    parts: dict[str, dict[str, list]] = {}
    digests = {}
    for s, name in enumerate(SCENARIOS):
        config = ChannelConfig(
            model=name, num_bs_antennas=sizes["antennas"], num_subcarriers=sizes["subcarriers"]
        )
        dataset = generate_dataset(config, sizes["channels"], folder / name, seed=seed)
        digests[name] = dataset.digest
        conditions = conditions_from_metadata(dataset.metadata, s, len(SCENARIOS))
        position = dataset.metadata["position_m"]
        observed = np.flatnonzero(in_region(position, TRAIN_REGION_DEG))
        held_out = np.flatnonzero(in_region(position, HELD_OUT_REGION_DEG))
        n_test, n_small = sizes["test"], sizes["small"]
        split = {
            "test": observed[:n_test],
            "small": observed[n_test : n_test + n_small],
            "pool": observed[n_test + n_small :],
            "region_test": held_out[:n_test],
            "region_pool": held_out[n_test:],
        }
        for part, rows in split.items():
            entry = parts.setdefault(part, {"h": [], "c": []})
            entry["h"].append(dataset.h[rows])
            entry["c"].append(conditions[rows])
    data: dict = {
        k: {"h": np.concatenate(v["h"]), "c": np.concatenate(v["c"])} for k, v in parts.items()
    }
    data["full"] = {k: np.concatenate([data["small"][k], data["pool"][k]]) for k in ("h", "c")}
    data["digests"] = digests
    data["subcarrier_spacing_hz"] = config.subcarrier_spacing_hz
    return data


def fidelity_table(data, synthetic, test: str, pool: str, sizes, seed) -> dict:
    """Per generator, and for real channels of the same region not in the test set
    (``real_held_out``), the metrics against the real test set (same real rows for all)."""
    real_test, train = data[test]["h"], data["small"]["h"]
    candidates = {k: synthetic[k][test] for k in synthetic} | {"real_held_out": data[pool]["h"]}
    spacing = data["subcarrier_spacing_hz"]
    return {
        name: fidelity_metrics(
            real_test, h, train, spacing, sizes["taps"], rng_for(seed, "fidelity")
        )
        for name, h in candidates.items()
    }


def _noisy_copies(h: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` copies of ``h``'s channels (cycled) with complex Gaussian noise at
    :data:`NOISE_AUGMENTATION_SNR_DB` below each channel's mean power."""
    rng = np.random.default_rng(int_seed_for(seed, "noise-augmentation"))
    rows = np.resize(np.arange(len(h)), count)
    base = h[rows]
    power = np.mean(np.abs(base) ** 2, axis=(1, 2, 3), keepdims=True)
    sigma = np.sqrt(power * 10 ** (-NOISE_AUGMENTATION_SNR_DB / 10) / 2)
    noise = sigma * (rng.standard_normal(base.shape) + 1j * rng.standard_normal(base.shape))
    return (base + noise).astype(np.complex64)


def training_sets(data, synthetic, pool: str, seed: int) -> dict:
    """``{regime: {"h", "c"}}`` (synthetic regimes: one per generator, ``regime/kind``)."""
    small, full = data["small"], data["full"] if pool == "pool" else data[pool]
    count = len(data[pool]["c"])
    sets = {
        "real_small": small,
        "real_small_plus_noise": {
            "h": np.concatenate([small["h"], _noisy_copies(small["h"], count, seed)]),
            "c": np.concatenate([small["c"], np.resize(small["c"], (count, small["c"].shape[1]))]),
        },
        "real_full": full,
    }
    for kind, made in synthetic.items():
        sets[f"synthetic/{kind}"] = {"h": made[pool], "c": data[pool]["c"]}
        sets[f"real_small_plus_synthetic/{kind}"] = {
            "h": np.concatenate([small["h"], made[pool]]),
            "c": np.concatenate([small["c"], data[pool]["c"]]),
        }
    return sets


def run_tasks(data, synthetic, test: str, pool: str, sizes, seed, tell) -> dict:
    """Every task on every regime, scored on ``data[test]``. In the held-out region
    ``real_full`` is the region's own real pool (the ceiling: channels measured there)."""
    sets = training_sets(data, synthetic, pool, seed)
    out = {task: {**spec, "regimes": {}, "details": {}} for task, spec in downstream.TASKS.items()}
    for i, (name, train) in enumerate(sets.items()):
        tell(f"tasks on {name} ({test})", i / len(sets))
        csi = _csi_task(train["h"], data[test]["h"], sizes, seed)
        steps = sizes["task_steps"]
        beam = downstream.beam_selection_accuracy(
            train["c"], train["h"], data[test]["c"], data[test]["h"], steps, seed
        )
        for task in out:
            found = beam if task == "beam_selection" else csi
            regime, _, kind = name.partition("/")
            value = found[downstream.TASKS[task]["metric"]]
            slot = out[task]["regimes"]
            if kind:
                slot.setdefault(regime, {})[kind] = value
            else:
                slot[regime] = value
            out[task]["details"][name] = found | {"train_channels": len(train["h"])}
    return out


def _csi_task(train_h: np.ndarray, test_h: np.ndarray, sizes: dict, seed: int) -> dict:
    return downstream.csi_feedback_nmse_db(
        train_h, test_h, sizes["taps"], CSI_RATIO, sizes["task_steps"], 200, seed
    )


def real_data_curve(data, tstr: dict, sizes, seed) -> list[dict]:
    """CSI NMSE (dB) of codecs trained on growing amounts of real observed channels: the small
    slice and all of them (from the TSTR runs) and multiples ``sizes["curve"]`` of the slice
    between them."""
    full, test, small = data["full"], data["test"], len(data["small"]["h"])
    details = tstr["csi_feedback"]["details"]

    def point(count: int, found: dict) -> dict:
        return {
            "real_channels": count,
            "nmse_db": found["nmse_db"],
            "transform_coding_nmse_db": found["transform_coding_nmse_db"],
        }

    points = [point(small, details["real_small"])]
    for factor in sizes["curve"]:
        count = factor * small
        if small < count < len(full["h"]):
            points.append(point(count, _csi_task(full["h"][:count], test["h"], sizes, seed)))
    return [*points, point(len(full["h"]), details["real_full"])]


def spectra(data, synthetic, sizes) -> dict:
    """Mean power-delay profiles and covariance eigen spectra (real test and each generator at
    the same conditions), for the figure."""
    from gainnet.synthetic.fidelity import eigen_spectrum, power_delay_profiles, spatial_covariance

    sets = {"real": data["test"]["h"]} | {k: v["test"] for k, v in synthetic.items()}
    return {
        name: {
            "pdp": power_delay_profiles(h, sizes["taps"]).mean(0).tolist(),
            "eigen_spectrum": eigen_spectrum(spatial_covariance(h)).tolist(),
        }
        for name, h in sets.items()
    }


def targets(results: dict) -> dict:
    """The issue's targets, measured."""
    csi = results["tstr"]["csi_feedback"]["regimes"]
    gain = {k: csi["real_small"] - v for k, v in csi["real_small_plus_synthetic"].items()}
    klt = results["tstr"]["csi_feedback_transform_coding"]["regimes"]
    region = results["held_out_region"]["tstr"]["csi_feedback"]["regimes"]
    fid = results["fidelity"]
    wins = sum(fid["diffusion"][k] < fid["gan"][k] for k in METRICS)
    memo = {
        k: {
            "synthetic_fraction_below": fid[k]["memorisation_synthetic_fraction_below"],
            "real_fraction_below": fid[k]["memorisation_real_fraction_below"],
            "passes": fid[k]["memorisation_synthetic_fraction_below"]
            <= fid[k]["memorisation_real_fraction_below"],
        }
        for k in GENERATORS
    }
    rate = results["generation_speed"]["diffusion"]["channels_per_second"]
    return {
        "csi_gain_from_synthetic_db": gain,
        "csi_gain_diffusion_at_least_1db": gain["diffusion"] >= 1.0,
        "csi_ceiling_gain_db": csi["real_small"] - csi["real_full"],
        "csi_transform_coding_gain_from_synthetic_db": {
            k: klt["real_small"] - v for k, v in klt["real_small_plus_synthetic"].items()
        },
        "csi_held_out_region_gain_from_synthetic_db": {
            k: region["real_small"] - v for k, v in region["real_small_plus_synthetic"].items()
        },
        "diffusion_fidelity_wins_over_gan": {
            "metrics": wins,
            "of": len(METRICS),
            "passes": wins >= 3,
        },
        "diffusion_channels_per_second": rate,
        "generation_at_least_1000_per_second": rate >= 1000.0,
        "memorisation": memo,
    }
