"""``gainnet csi``: train a CSI feedback codec on a channel dataset and evaluate it."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gainnet.cli_common import ThreadsOption, err, new_app, out, print_json
from gainnet.errors import GainnetError

csi_app = new_app(help="CSI feedback codecs (CsiNet, VAE, entropy model) on channel datasets.")


def parse_ratio(text: str, values_total: int) -> int:
    """The real values a codec of compression ratio ``text`` ("1/16") keeps of ``values_total``."""
    try:
        ratio = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise GainnetError(f"--ratio must be a fraction such as 1/16, got {text!r}") from None
    if not 0 < ratio <= 1:
        raise GainnetError(f"--ratio must be in (0, 1], got {text}")
    values = values_total * ratio
    if values.denominator != 1:
        raise GainnetError(f"{text} of {values_total} values is not a whole number of values")
    return int(values)


def one_link(dataset):
    """``dataset``, refused if it holds network drops (users x sites), not one link's CSI."""
    if dataset.config.num_cells > 1:
        raise GainnetError(
            f"the dataset holds {dataset.config.num_cells}-site network drops, not the CSI of "
            "one link: generate one without num_cells"
        )
    return dataset


def split(num_reports: int, test: int) -> int:
    """The number of training reports (the last ``test`` are held out)."""
    if not 0 < test < num_reports - 8:
        raise GainnetError(f"--test must be in 1..{num_reports - 9} for {num_reports} reports")
    return num_reports - test


@csi_app.command()
def train(
    dataset_dir: Annotated[Path, typer.Option("--dataset", help="a channel dataset folder")],
    out_dir: Annotated[Path, typer.Option("--out", help="codec folder to write")],
    codec: Annotated[str, typer.Option(help="csinet, vae, entropy or mixture")] = "csinet",
    ratio: Annotated[str, typer.Option(help="compression ratio, 1/4 .. 1/64")] = "1/16",
    epochs: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    taps: Annotated[int, typer.Option(min=1, max=256, help="delay taps kept")] = 32,
    test: Annotated[int, typer.Option(min=1, help="reports held out for evaluate")] = 1000,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    groups: Annotated[int, typer.Option(min=1, max=64, help="mixture: KLT coders")] = 8,
    threads: ThreadsOption = 1,
) -> None:
    """Train a codec on a dataset's first reports (the last ``--test`` are held out); the
    mixture coder learns by Lloyd iterations (``--epochs`` does not apply)."""
    import torch

    from gainnet.channels import load_dataset
    from gainnet.csi.learned import CODECS, CodecConfig, LearnedCodec
    from gainnet.csi.preprocess import feedback_reports
    from gainnet.errors import UnknownNameError
    from gainnet.reproduce.csi_feedback import BITS_PER_VALUE, codec_size

    torch.set_num_threads(threads)
    if codec not in (*CODECS, "mixture"):
        raise UnknownNameError("codec", codec, [*CODECS, "mixture"])
    dataset = one_link(load_dataset(dataset_dir))
    if taps > dataset.config.num_subcarriers:
        raise GainnetError(f"--taps must be <= {dataset.config.num_subcarriers} subcarriers")
    _, x = feedback_reports(dataset.h, taps)
    values = parse_ratio(ratio, 2 * x.shape[1] * x.shape[2])
    n_train = split(len(x), test)
    training = {"dataset": str(dataset_dir), "sha256": dataset.digest, "ratio": ratio,
                "train_reports": n_train, "test_reports": test, "epochs": epochs}  # fmt: skip
    if codec == "mixture":
        train_mixture(x[:n_train], values * BITS_PER_VALUE, groups, seed, training, out_dir)
        return
    latent, per_value = codec_size(codec, values)
    config = CodecConfig(codec=codec, taps=taps, antennas=x.shape[2], latent=latent,
                         bits_per_value=per_value)  # fmt: skip
    learned = LearnedCodec(config, seed=seed)
    learned.training = training
    with Progress(TextColumn(f"[bold]{codec} {ratio}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("epochs {task.fields[nmse]}"), TimeElapsedColumn(),
                  console=err) as progress:  # fmt: skip
        task = progress.add_task("train", total=epochs, nmse="")
        learned.fit(
            x[:n_train],
            epochs,
            progress=lambda e, loss: progress.update(task, completed=e, nmse=f"train {loss:.4f}"),
        )
    learned.save(out_dir)
    out.print(escape(f"{codec}: {config.bits} bits per report, saved to {out_dir}"))


@csi_app.command()
def evaluate(
    codec_dir: Annotated[Path, typer.Argument(help="a codec folder written by `csi train`")],
    dataset_dir: Annotated[
        Path | None, typer.Option("--dataset", help="another dataset (default: the training one)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    threads: ThreadsOption = 1,
) -> None:
    """Score a codec on held-out reports, with transform coding at the same bits beside it."""
    import torch

    from gainnet.channels import load_dataset
    from gainnet.csi.preprocess import feedback_reports
    from gainnet.csi.transform_coding import TransformCoder
    from gainnet.reproduce.csi_feedback import score

    torch.set_num_threads(threads)
    name, taps, antennas, target_bits, info, run = load_any_codec(codec_dir)
    if dataset_dir is None and "dataset" not in info:
        raise GainnetError(f"{codec_dir} records no dataset: pass --dataset")
    dataset = one_link(load_dataset(dataset_dir or info["dataset"]))
    if taps > dataset.config.num_subcarriers:
        raise GainnetError(f"the codec keeps {taps} taps, the dataset has fewer subcarriers")
    h, x = feedback_reports(dataset.h, taps)
    if x.shape[2] != antennas:
        raise GainnetError(f"the dataset has {x.shape[2]} antennas, the codec {antennas}")
    same = dataset.digest == info.get("sha256")
    n_train = info.get("train_reports", 0) if same else 0
    if same and not 0 < n_train < len(x):
        raise GainnetError(f"{codec_dir} records {n_train} training reports of {len(x)}")
    x_test, h_test = x[n_train:], h[n_train:]
    x_hat, report_bits = run(x_test)
    ratio = info.get("ratio", "?")
    rows = {name: score(ratio, report_bits, x_test, x_hat, h_test)}
    if same:
        coder = TransformCoder.fit(x[:n_train], target_bits)
        index, bits = coder.encode(x_test)
        rows["transform coding"] = score(ratio, bits, x_test, coder.decode(index, x.shape[1:]),
                                         h_test)  # fmt: skip
    summary = {"reports": len(x_test), "held_out": same, "sha256": dataset.digest, "codecs": rows}
    if as_json:
        print_json(summary)
        return
    where = "held-out" if same else "all (another dataset)"
    out.print(escape(f"{len(x_test)} {where} reports of {dataset_dir or info['dataset']}"))
    for name, p in rows.items():
        out.print(escape(
            f"{name}: {p['bits']:.1f} bits, NMSE {p['nmse_db']:.2f} dB "
            f"({p['nmse_db_frequency']:.2f} dB full band), rho {p['rho']:.4f}, "
            f"beamforming {p['beamforming_gain_db']:.2f} dB"
        ))  # fmt: skip


def train_mixture(x_train, bits: int, groups: int, seed: int, training: dict, out_dir: Path):
    """Fit and save a mixture coder (``gainnet csi train --codec mixture``)."""
    from gainnet.csi.mixture_coding import MixtureCoder, save_mixture

    with Progress(TextColumn("[bold]mixture"), TextColumn("Lloyd iterations"),
                  TimeElapsedColumn(), console=err):  # fmt: skip
        coder = MixtureCoder.fit(x_train, float(bits), groups=groups, seed=seed)
    meta = {"taps": x_train.shape[1], "antennas": x_train.shape[2], "bits": bits,
            "groups": groups, "seed": seed, "training": training}  # fmt: skip
    save_mixture(coder, out_dir, meta)
    out.print(escape(f"mixture: {bits} bits per report on average, saved to {out_dir}"))


def load_any_codec(codec_dir: Path):
    """``(name, taps, antennas, target bits, training info, run)`` of a saved codec, learned
    or mixture; ``run(x) -> (x_hat, bits per report)`` codes and decodes reports."""
    import json

    from gainnet.csi.learned import CONFIG_FILE, LearnedCodec
    from gainnet.csi.mixture_coding import MIXTURE_FORMAT, load_mixture

    try:
        kind = json.loads((codec_dir / CONFIG_FILE).read_bytes()[:65536]).get("format")
    except (OSError, ValueError, AttributeError):
        kind = None  # the full load below names what is wrong
    if kind == MIXTURE_FORMAT:
        coder, meta = load_mixture(codec_dir)
        try:
            taps, antennas, bits = int(meta["taps"]), int(meta["antennas"]), float(meta["bits"])
            info = dict(meta.get("training", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise GainnetError(f"{codec_dir / CONFIG_FILE} is corrupt: {exc}") from None
        if taps * antennas != len(coder.coders[0].sigma):
            raise GainnetError(f"{codec_dir / CONFIG_FILE} does not match its coders")

        def run_mixture(x):
            group, index, report_bits = coder.encode(x)
            return coder.decode(group, index, x.shape[1:]), report_bits

        return "mixture", taps, antennas, bits, info, run_mixture
    learned = LearnedCodec.load(codec_dir)

    def run_learned(x):
        symbols = learned.encode(x)
        return learned.decode(symbols), learned.report_bits(symbols)

    config = learned.config
    return config.codec, config.taps, config.antennas, config.bits, learned.training, run_learned
