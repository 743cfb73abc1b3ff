"""The files of ``gainnet reproduce synthetic-channels``: results.json, CSVs, figures,
report.md."""

from __future__ import annotations

from pathlib import Path

from gainnet import reports
from gainnet.synthetic.fidelity import METRICS

#: fidelity columns of the tables: the distances, then what the candidate itself measures
FIDELITY_COLUMNS = (
    *METRICS,
    "delay_spread_median_ns",
    "angular_spread_median_deg",
    "effective_rank",
    "memorisation_synthetic_fraction_below",
    "memorisation_real_fraction_below",
)


def write_outputs(out: Path, results: dict) -> None:
    reports.write_json(results, out / "results.json")
    fidelity_rows, tstr_rows = [], []
    places = {"observed": results, "held_out_region": results["held_out_region"]}
    for place, entry in places.items():
        for name, metrics in entry["fidelity"].items():
            fidelity_rows.append({"region": place, "set": name, **metrics})
        for task, spec in entry["tstr"].items():
            for regime, found in spec["details"].items():
                metric = spec["metric"]
                tstr_rows.append(
                    {
                        "region": place,
                        "task": task,
                        "regime": regime,
                        "metric": metric,
                        "value": found[metric],
                        "train_channels": found["train_channels"],
                    }
                )
    reports.write_csv(fidelity_rows, out / "fidelity.csv")
    reports.write_csv(tstr_rows, out / "tstr.csv")
    reports.write_csv(results["real_data_curve"], out / "real_data_curve.csv")
    spectra_figure(out / "spectra.png", results)
    nmse_vs_real(out / "nmse_vs_real.png", results)
    (out / "report.md").write_text(report(results))


def spectra_figure(path: Path, results: dict) -> None:
    """Mean power-delay profile and covariance eigen spectrum, real against each generator."""
    with reports.figure(path, 1, 2, figsize=(10, 4)) as (_, (left, right)):
        for name, found in results["spectra"].items():
            style = "k-" if name == "real" else "--"
            left.semilogy(found["pdp"], style, label=name)
            right.semilogy(found["eigen_spectrum"], style, label=name)
        left.set_xlabel("delay tap")
        left.set_ylabel("mean normalised power")
        left.set_title("power-delay profile (real test conditions)", fontsize=9)
        right.set_xlabel("eigenvalue index")
        right.set_ylabel("share of power")
        right.set_title("spatial covariance eigen spectrum", fontsize=9)
        for ax in (left, right):
            ax.grid(alpha=0.3)
        left.legend(fontsize=8)


def nmse_vs_real(path: Path, results: dict) -> None:
    """CSI NMSE against the real channels trained on (CsiNet and transform coding), with the
    synthetic and noise-augmented regimes marked at the small slice."""
    curve, small = results["real_data_curve"], results["counts"]["small"]
    codecs = (
        ("csi_feedback", "nmse_db", "CsiNet"),
        ("csi_feedback_transform_coding", "transform_coding_nmse_db", "transform coding"),
    )
    with reports.figure(path, 1, 2, figsize=(11, 4.2)) as (_, axes):
        for ax, (task, key, title) in zip(axes, codecs, strict=True):
            regimes = results["tstr"][task]["regimes"]
            ax.plot(
                [p["real_channels"] for p in curve],
                [p[key] for p in curve],
                "k-o",
                label="real only",
            )
            for kind, marker, colour in (("diffusion", "s", "C0"), ("gan", "^", "C1")):
                ax.plot(
                    [small],
                    [regimes["real_small_plus_synthetic"][kind]],
                    marker,
                    color=colour,
                    markersize=9,
                    label=f"real small + {kind} synthetic",
                )
                ax.axhline(
                    regimes["synthetic"][kind], ls=":", color=colour, label=f"{kind} synthetic only"
                )
            ax.plot(
                [small],
                [regimes["real_small_plus_noise"]],
                "x",
                color="C2",
                markersize=9,
                label="real small + noisy copies",
            )
            ax.set_xscale("log", base=2)
            ax.set_xlabel("real channels trained on")
            ax.set_ylabel(f"NMSE (dB, real test, ratio {results['csi_ratio']})")
            ax.set_title(f"CSI feedback, {title}", fontsize=9)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)


def _f(x, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _fidelity_table(fidelity: dict) -> list[str]:
    short = {
        "pdp_error_db": "PDP dB",
        "delay_spread_ks": "DS KS",
        "angular_spread_ks": "AS KS",
        "eigen_spectrum_error_db": "eig dB",
        "correlation_matrix_distance": "CMD",
        "mmd": "MMD",
        "frechet": "Fréchet",
        "delay_spread_median_ns": "DS med ns",
        "angular_spread_median_deg": "AS med deg",
        "effective_rank": "eff. rank",
        "memorisation_synthetic_fraction_below": "copies",
        "memorisation_real_fraction_below": "real copies",
    }
    lines = [
        "| set | " + " | ".join(short[c] for c in FIDELITY_COLUMNS) + " |",
        "|---" * (len(FIDELITY_COLUMNS) + 1) + "|",
    ]
    for name, metrics in fidelity.items():
        lines.append(f"| {name} | " + " | ".join(_f(metrics[c]) for c in FIDELITY_COLUMNS) + " |")
    return lines


def _tstr_table(tstr: dict) -> list[str]:
    lines = [
        "| task (metric) | real small | synthetic (diffusion / GAN) | real small + synthetic "
        "(diffusion / GAN) | real small + noise | real full |",
        "|---|---|---|---|---|---|",
    ]
    for task, spec in tstr.items():
        r = spec["regimes"]
        arrow = "higher is better" if spec["higher_is_better"] else "lower is better"
        pair = " / ".join
        lines.append(
            f"| {task} ({spec['metric']}, {arrow}) | {_f(r['real_small'])} | "
            f"{pair(_f(r['synthetic'][k]) for k in ('diffusion', 'gan'))} | "
            f"{pair(_f(r['real_small_plus_synthetic'][k]) for k in ('diffusion', 'gan'))} | "
            f"{_f(r['real_small_plus_noise'])} | {_f(r['real_full'])} |"
        )
    return lines


def report(results: dict) -> str:
    sizes, counts, t = results["sizes"], results["counts"], results["targets"]
    speed = results["generation_speed"]
    lines = [
        "# Synthetic channels: train on synthetic, test on real",
        "",
        f"{'Quick run' if results['quick'] else 'Full run'}, seed {results['seed']}: Sionna "
        f"{' and '.join(s.upper() for s in results['scenarios'])} drops, {sizes['channels']} "
        f"per scenario, {sizes['antennas']} base-station antennas, {sizes['subcarriers']} "
        f"subcarriers, the first {sizes['taps']} delay taps modelled. Users at azimuth "
        f"{results['regions_deg']['observed']} deg are observed, "
        f"{results['regions_deg']['held_out']} deg is held out of all training. Generators "
        f"trained on {counts['small']} real channels (both scenarios); synthetic training sets "
        f"fill the conditions of {counts['pool']} observed users without measured channels "
        f"({counts['region_pool']} in the held-out region). Tests: {counts['test']} real "
        f"channels observed, {counts['region_test']} in the held-out region.",
        "",
        "## Fidelity (observed region, against the real test channels)",
        "",
        "Distances (lower is better): PDP and eigen-spectrum mean dB errors, KS distances of the "
        "delay and angular spreads, correlation matrix distance, MMD and Fréchet distance of the "
        "angular-delay power embedding. `copies`: share of samples closer to a training sample "
        "than the 1st percentile of real-to-real distances. `real_held_out` is a second set of "
        "real channels: the floor every distance can reach.",
        "",
        *_fidelity_table(results["fidelity"]),
        "",
        "## Train on synthetic, test on real (observed region)",
        "",
        *_tstr_table(results["tstr"]),
        "",
        "## Held-out region",
        "",
        "Generators asked for channels where they saw none; `real full` is the region's own "
        "measured channels (the ceiling).",
        "",
        *_fidelity_table(results["held_out_region"]["fidelity"]),
        "",
        *_tstr_table(results["held_out_region"]["tstr"]),
        "",
        "## Generation speed (1 torch thread, batched)",
        "",
        *(
            f"- {k}: {v['channels_per_second']:.0f} channels/s ({v['channels']} channels in "
            f"{v['seconds']:.2f} s)"
            for k, v in speed.items()
        ),
        "",
        "## Targets",
        "",
        "- CSI NMSE gain of real small + synthetic over real small alone (dB, + is better): "
        + ", ".join(f"{k} {v:+.2f}" for k, v in t["csi_gain_from_synthetic_db"].items())
        + f"; diffusion >= 1 dB: {t['csi_gain_diffusion_at_least_1db']}. All the observed "
        f"real channels ({counts['full']}) gain {t['csi_ceiling_gain_db']:+.2f} dB over the "
        "small slice: the most imitating them could add. Transform coding: "
        + ", ".join(
            f"{k} {v:+.2f}" for k, v in t["csi_transform_coding_gain_from_synthetic_db"].items()
        )
        + ". Held-out region: "
        + ", ".join(
            f"{k} {v:+.2f}" for k, v in t["csi_held_out_region_gain_from_synthetic_db"].items()
        )
        + ".",
        f"- Diffusion beats the GAN on {t['diffusion_fidelity_wins_over_gan']['metrics']} of "
        f"{t['diffusion_fidelity_wins_over_gan']['of']} fidelity distances (target 3).",
        f"- Diffusion generation: {t['diffusion_channels_per_second']:.0f} channels/s "
        f"(target 1000: {t['generation_at_least_1000_per_second']}).",
        "- Memorisation (share closer to a training sample than the 1st percentile of "
        "real-to-real; real test channels for reference): "
        + "; ".join(
            f"{k} {v['synthetic_fraction_below']:.3f} vs real "
            f"{v['real_fraction_below']:.3f} (passes: {v['passes']})"
            for k, v in t["memorisation"].items()
        ),
        "",
        "![spectra](spectra.png)",
        "",
        "![NMSE against real data](nmse_vs_real.png)",
        "",
    ]
    return "\n".join(lines)
