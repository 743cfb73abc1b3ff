"""Many devices at once: throughput and latency percentiles of one server.

Each device is a thread with its own TCP connection sending its own precomputed activation
(the devices' compute happens on their own hardware, so it is done before the clock starts and
does not compete for this machine's cores). Every reply is checked against the device's own
expected embedding, so a crossed or lost reply fails the run.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gainnet.errors import GainnetError
from gainnet.split.device import ServerConnection
from gainnet.split.encoder import SplitEncoder
from gainnet.split.link import Link
from gainnet.split.protocol import MessageType
from gainnet.split.stages import request_arrays


def measure_concurrency(
    address: tuple[str, int],
    encoder: SplitEncoder,
    inputs_per_device: list,
    split: int,
    codec: str,
    requests_per_device: int = 5,
    link: Link | None = None,
) -> dict:
    """Run ``len(inputs_per_device)`` devices concurrently; returns throughput and latencies.

    Returns ``{"devices", "requests", "seconds", "throughput_rps", "p50_s", "p95_s",
    "mismatches"}``; latencies are per request, from send to decoded reply.
    """
    meta = {
        "model": encoder.name,
        "fingerprint": encoder.fingerprint(),
        "split": split,
        "codec": codec,
    }
    jobs = []
    for inputs in inputs_per_device:
        raw = encoder.raw_input(inputs)
        arrays = request_arrays(encoder, raw, split, codec)
        expected = encoder.embed(inputs)
        jobs.append((arrays, expected.numpy()))

    def device(job) -> tuple[list[float], int]:
        arrays, expected = job
        latencies, mismatches = [], 0
        with ServerConnection(address, link=link) as conn:
            for _ in range(requests_per_device):
                start = time.perf_counter()
                reply = conn.call(MessageType.REQUEST, meta, arrays)
                latencies.append(time.perf_counter() - start)
                cosine = (reply.arrays["embedding"] * expected).sum(-1).min()
                exact = np.array_equal(reply.arrays["embedding"], expected)
                mismatches += int(not exact if codec == "fp32" else cosine < 0.99)
        return latencies, mismatches

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(device, jobs))
    seconds = time.perf_counter() - start
    latencies = np.concatenate([r[0] for r in results])
    mismatches = sum(r[1] for r in results)
    if len(latencies) != len(jobs) * requests_per_device:
        raise GainnetError("lost replies")
    return {
        "devices": len(jobs),
        "requests": len(latencies),
        "seconds": seconds,
        "throughput_rps": len(latencies) / seconds,
        "p50_s": float(np.percentile(latencies, 50)),
        "p95_s": float(np.percentile(latencies, 95)),
        "mismatches": int(mismatches),
    }
