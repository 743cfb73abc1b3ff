"""Many devices at once: throughput and latency percentiles of one server.

Each device is a thread with its own TCP connection sending its own precomputed activation
(the devices' compute happens on their own hardware, so it is done before the clock starts and
does not compete for this machine's cores). Every reply is checked against the device's own
expected embedding, so a crossed or lost reply fails the run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gainnet.errors import GainnetError
from gainnet.split.device import ServerConnection, check_reply
from gainnet.split.encoder import RAW_SPLIT, SplitEncoder
from gainnet.split.link import Link
from gainnet.split.protocol import MessageType
from gainnet.split.stages import request_arrays


def measure_concurrency(
    address: tuple[str, int],
    encoder: SplitEncoder,
    inputs_per_device: list,
    split: int | Sequence[int],
    codec: str,
    requests_per_device: int = 5,
    link: Link | None = None,
    compute_repeats: int = 1,
) -> dict:
    """Run ``len(inputs_per_device)`` devices concurrently; returns throughput and latencies.

    ``split`` is one split point for every device or one per device. Returns ``{"devices",
    "requests", "seconds", "throughput_rps", "p50_s", "p95_s", "mismatches",
    "server_compute_s", "per_device"}``: latencies are per request, from send to decoded
    reply; ``server_compute_s`` sums the server's own compute over every request, and
    ``per_device`` lists each device's ``{"split", "device_compute_s", "median_s",
    "server_compute_s"}`` (its compute, measured alone before the clock starts, the median of
    its round trips, and the server's compute per request for it); a device's compute is the
    median of ``compute_repeats`` runs.
    """
    splits = [split] * len(inputs_per_device) if isinstance(split, int) else list(split)
    if len(splits) != len(inputs_per_device) or not splits:
        raise GainnetError(f"need one split per device, got {len(splits)} for "
                           f"{len(inputs_per_device)} devices")  # fmt: skip
    jobs = []
    for inputs, device_split in zip(inputs_per_device, splits, strict=True):
        raw = encoder.raw_input(inputs)
        times = []
        for _ in range(max(1, int(compute_repeats))):
            start = time.perf_counter()
            arrays = request_arrays(encoder, raw, device_split, codec)
            times.append(time.perf_counter() - start)
        compute_s = float(np.median(times))
        meta = {
            "model": encoder.name,
            "fingerprint": encoder.fingerprint(),
            "split": int(device_split),
            "codec": codec,
        }
        jobs.append((meta, arrays, encoder.embed(inputs).numpy(), compute_s))

    def device(job) -> tuple[list[float], list[float], int]:
        meta, arrays, expected, _ = job
        latencies, server_s, mismatches = [], [], 0
        with ServerConnection(address, link=link) as conn:
            for _ in range(requests_per_device):
                start = time.perf_counter()
                reply = conn.call(MessageType.REQUEST, meta, arrays)
                latencies.append(time.perf_counter() - start)
                embedding, _, seconds = check_reply(reply, len(expected))
                server_s.append(seconds)
                cosine = (embedding * expected).sum(-1).min()
                exact = np.array_equal(embedding, expected)
                lossless = codec == "fp32" or meta["split"] == RAW_SPLIT
                mismatches += int(not exact if lossless else cosine < 0.99)
        return latencies, server_s, mismatches

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(device, jobs))
    seconds = time.perf_counter() - start
    latencies = np.concatenate([r[0] for r in results])
    mismatches = sum(r[2] for r in results)
    if len(latencies) != len(jobs) * requests_per_device:
        raise GainnetError("lost replies")
    per_device = [
        {
            "split": job[0]["split"],
            "device_compute_s": job[3],
            "median_s": float(np.median(result[0])),
            "server_compute_s": float(np.median(result[1])),
        }
        for job, result in zip(jobs, results, strict=True)
    ]
    return {
        "devices": len(jobs),
        "requests": len(latencies),
        "seconds": seconds,
        "throughput_rps": len(latencies) / seconds,
        "p50_s": float(np.percentile(latencies, 50)),
        "p95_s": float(np.percentile(latencies, 95)),
        "mismatches": int(mismatches),
        "server_compute_s": float(sum(sum(r[1]) for r in results)),
        "per_device": per_device,
    }
