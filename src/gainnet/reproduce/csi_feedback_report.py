"""The files of ``gainnet reproduce csi-feedback``: results.json, CSVs, the figure, report.md."""

from __future__ import annotations

from pathlib import Path

from gainnet import reports

COLUMNS = ("dataset", "codec", "ratio", "budget_bits", "bits", "nmse_db", "nmse_db_frequency",
           "rho", "beamforming_gain_db", "spectral_efficiency", "seconds",
           "gaussian_rd_nmse_db", "transform_coding_same_bits_nmse_db")  # fmt: skip

COST2100 = (
    "COST2100, the dataset CsiNet and its successors report on, cannot be downloaded here, so "
    "their published NMSE figures are not comparable with these. The codecs are compared on "
    "gainnet's own Sionna datasets instead, against the Gaussian rate-distortion limit of each "
    "dataset's covariance and the linear baselines at the same bits."
)


def write_outputs(out: Path, results: dict) -> None:
    rows, rd_rows = [], []
    for name, data in results["datasets"].items():
        for codec, points in data["codecs"].items():
            for p in points:
                same = p.get("transform_coding_same_bits", {})
                row = {k: v for k, v in p.items() if k != "transform_coding_same_bits"}
                row["transform_coding_same_bits_nmse_db"] = same.get("nmse_db", "")
                rows.append({"dataset": name, "codec": codec, **row})
        rd_rows += [{"dataset": name, **p} for p in data["gaussian_rd"]]
    reports.write_json(results, out / "results.json")
    reports.write_csv(rows, out / "points.csv", COLUMNS)
    reports.write_csv(rd_rows, out / "gaussian_rd.csv", ("dataset", "bits", "nmse_db"))
    nmse_vs_bits(out / "nmse_vs_bits.png", results)
    (out / "report.md").write_text(report(results))


def nmse_vs_bits(path: Path, results: dict) -> None:
    datasets = results["datasets"]
    size = (4.6 * len(datasets), 4.2)
    with reports.figure(path, 1, len(datasets), figsize=size, squeeze=False) as (_, grid):
        axes = grid[0]
        for ax, data in zip(axes, datasets.values(), strict=True):
            rd = data["gaussian_rd"]
            ax.plot([p["bits"] for p in rd], [p["nmse_db"] for p in rd], "k--",
                    label="Gaussian R(D)")  # fmt: skip
            for codec, points in data["codecs"].items():
                style = ":s" if codec in ("transform coding", "pca") else "-o"
                ax.plot([p["bits"] for p in points], [p["nmse_db"] for p in points], style,
                        label=codec)  # fmt: skip
            ax.set_xscale("log", base=2)
            ax.set_xlabel("bits per report")
            ax.set_ylabel("NMSE (dB, truncated angular-delay)")
            ax.set_title(data["title"], fontsize=9)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)


def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def report(results: dict) -> str:
    sizes = results["sizes"]
    lines = [
        "# CSI feedback: NMSE against bits",
        "",
        f"{'Quick run' if results['quick'] else 'Full run'}, seed {results['seed']}: "
        f"{sizes['channels']} channels per dataset ({sizes['test']} for the test), "
        f"{sizes['antennas']} base-station antennas, {sizes['subcarriers']} subcarriers, the "
        f"first {sizes['taps']} delay taps; learned codecs trained {sizes['epochs']} epochs. "
        f"Every codec at ratio r gets 4 x r x (2 taps antennas) bits per report.",
        "",
        COST2100,
        "",
    ]
    for name, data in results["datasets"].items():
        lines += [
            f"## {data['title']} (`{name}`, Gaussian: {data['is_gaussian']})",
            "",
            "| codec | ratio | bits | NMSE dB | NMSE dB (full band) | rho | beamforming dB | "
            f"bit/s/Hz at {results['snr_db']:g} dB | train s | transform coding, same bits |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for codec, points in data["codecs"].items():
            for p in points:
                lines.append(
                    f"| {codec} | {p['ratio']} | {p['bits']:.0f} | {_f(p['nmse_db'])} | "
                    f"{_f(p['nmse_db_frequency'])} | {_f(p['rho'], 3)} | "
                    f"{_f(p['beamforming_gain_db'])} | {_f(p['spectral_efficiency'], 3)} | "
                    f"{p['seconds']:.1f} | "
                    f"{_f(p.get('transform_coding_same_bits', {}).get('nmse_db'))} |"
                )
        lines += [
            "",
            f"Perfect CSI: {data['spectral_efficiency_perfect']:.3f} bit/s/Hz. Gaussian limit: "
            + ", ".join(f"{p['nmse_db']:.1f} dB at {p['bits']}" for p in data["gaussian_rd"][::6]),
            "",
        ]
    lines += ["## Targets", ""]
    for name, entry in results["targets"].items():
        gaps = "; ".join(
            f"{codec} " + ", ".join(f"{r}: {v['gap_to_gaussian_rd_db']:+.2f}" for r, v in g.items())
            for codec, g in entry.items()
            if codec != "best_learned_at_1/16"
        )
        lines.append(f"- `{name}`: gap to the Gaussian limit (dB, + is above it): {gaps}.")
        best = entry.get("best_learned_at_1/16")
        if best:
            lines.append(
                f"  Best learned codec at 1/16: {best['codec']} ({best['bits']:.0f} bits), "
                f"{best['gain_over_transform_coding_db']:+.2f} dB against transform coding at "
                f"the same bits (+ is better), below the Gaussian curve: "
                f"{best['below_gaussian_rd']}."
            )
    lines += ["", "![NMSE against bits](nmse_vs_bits.png)", ""]
    return "\n".join(lines)
