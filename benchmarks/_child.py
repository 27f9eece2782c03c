"""What the memory benchmarks share: a child process that measures its own peak, and the report.

Each measurement runs in a fresh interpreter so its peak is its own. The child reads ``VmHWM``
(its own high-water mark; ``ru_maxrss`` would include the parent's, from before exec) and prints
its figures as one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

#: Put before a child's script: defines ``high_water_kib()``. No braces, so it survives ``str.format``.
HIGH_WATER = r"""
def high_water_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
"""


def run(script: str) -> Any:
    """Run ``script`` in a fresh interpreter (after :data:`HIGH_WATER`); its last line, parsed."""
    result = subprocess.run([sys.executable, "-c", HIGH_WATER + script], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def report_growth(subject: str, timed: str, size_mib: int, figures: dict[str, float], limit_mib: int) -> None:
    """Print a one-row table of time, throughput and memory; fail if memory grew by ``limit_mib`` or more.

    :param subject: what the row measures (its first column's heading); ``timed``: what the seconds cover.
    """
    growth = (figures["peak_kib"] - figures["base_kib"]) / 1024
    print(f"| {subject} | {timed} | MiB/s | peak RSS MiB | growth MiB |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| {size_mib} MiB | {figures['seconds']:.2f} | {size_mib / figures['seconds']:.0f} "
        f"| {figures['peak_kib'] / 1024:.1f} | {growth:.1f} |"
    )
    if growth >= limit_mib:
        raise SystemExit(f"peak memory grew by {growth:.1f} MiB, at or over {limit_mib} MiB")
