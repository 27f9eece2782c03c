"""Start-up and single-request commands: ocimodel against python-dxf, in instructions and seconds.

Run with ``.venv/bin/python -m benchmarks.startup`` (``--runs N``; ``--no-valgrind`` skips the
instruction counts). Each row is a fresh process. Two figures each:

- **instructions** executed by the process (valgrind's callgrind, user space): the same on every
  run, so a change of a few percent shows even on a busy machine, where seconds do not;
- **CPU seconds** (user + system, from ``wait4``), the median of ``--runs`` runs.

The import rows are what a library user pays before the first request: the interpreter alone, the
dependencies ocimodel cannot do without (attrs and urllib3: their import is the floor under
ocimodel's), python-dxf (which imports requests, hence urllib3 too), and ocimodel's imports for a
pull or a push. The command rows run each verb to the end against the distribution registry on
127.0.0.1, next to python-dxf's command for the same request (``DXF_HOST``, ``DXF_INSECURE``).

Writes the table to ``benchmarks/RESULTS.md`` (between the ``startup`` markers); with other
``--runs`` (a quick look) into ``benchmarks/out/startup.md`` instead.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

from benchmarks.peers import compile_ocimodel, machine, scratch_root, write_results
from ocimodel import random, remote
from tests.harness.distribution import DistributionRegistry

HERE = Path(__file__).parent
BEGIN, END = "<!-- startup:begin -->", "<!-- startup:end -->"
GOAL = 0.7  # the goal: ocimodel at most 0.7x python-dxf, for imports and single requests

IMPORTS = {
    "python alone": "pass",
    "attrs + urllib3 (ocimodel's floor)": "import attrs, urllib3",
    "click": "import click",
    "python-dxf": "import dxf",
    "ocimodel: pull and push (remote, layout)": "import ocimodel.remote, ocimodel.layout",
    "ocimodel: single requests (remote.head)": "import ocimodel.remote; ocimodel.remote.head",
}


@attrs.frozen
class Row:
    """One measured command: its label, median CPU seconds and wall seconds, and instructions."""

    label: str
    cpu: float
    wall: float
    instructions: int | None


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode is written and used
    return env


def cpu_and_wall(argv: Sequence[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median CPU and wall seconds of ``argv`` over ``runs`` runs (after one warm-up)."""
    figures = []
    for number in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise RuntimeError(f"{argv} failed ({result.returncode}): {result.stderr[-2000:]}")
        if number:
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            figures.append((cpu, seconds))
    return statistics.median(f[0] for f in figures), statistics.median(f[1] for f in figures)


def instructions(argv: Sequence[str], env: dict[str, str]) -> int | None:
    """Instructions ``argv`` executes in user space, counted by callgrind; ``None`` without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    counted = [line.split()[-1] for line in result.stderr.splitlines() if "Collected" in line]
    return int(counted[-1].replace(",", "")) if counted else None


def measure(label: str, argv: Sequence[str], env: dict[str, str], runs: int, count: bool) -> Row:
    cpu, wall = cpu_and_wall(argv, env, runs)
    row = Row(label, cpu, wall, instructions(argv, env) if count else None)
    shown = f"{row.instructions / 1e6:8.0f} M" if row.instructions else "         -"
    print(f"{label:48} cpu {cpu:6.3f} s  wall {wall:6.3f} s  {shown}", flush=True)
    return row


def commands(host: str, config: str) -> dict[str, tuple[list[str], list[str]]]:
    """Each single-request verb: ocimodel's command line and python-dxf's for the same request."""
    ocimodel = [str(Path(sys.executable).with_name("ocimodel")), "--insecure"]
    dxf = [str(Path(sys.executable).with_name("dxf"))]
    return {
        "digest": ([*ocimodel, "digest", f"{host}/startup/image:v1"], [*dxf, "get-digest", "startup/image", "v1"]),
        "manifest": (
            [*ocimodel, "manifest", f"{host}/startup/image:v1"],
            [*dxf, "get-manifest", "startup/image", "v1"],
        ),
        "config": ([*ocimodel, "config", f"{host}/startup/image:v1"], [*dxf, "pull-blob", "startup/image", config]),
        "ls": ([*ocimodel, "ls", f"{host}/startup/image"], [*dxf, "list-aliases", "startup/image"]),
        "catalog": ([*ocimodel, "catalog", host], [*dxf, "list-repos"]),
    }


def _ratio(mine: Row, theirs: Row) -> str:
    parts = [f"{mine.cpu / theirs.cpu:.2f}"]
    if mine.instructions and theirs.instructions:
        parts.append(f"{mine.instructions / theirs.instructions:.2f}")
    return " / ".join(parts)


def report(imports: dict[str, Row], verbs: dict[str, tuple[Row, Row]], runs: int) -> str:
    def millions(row: Row) -> str:
        return f"{row.instructions / 1e6:.0f}" if row.instructions else "—"

    dxf = imports["python-dxf"]
    lines = [
        BEGIN,
        "## Start-up and single requests (`python -m benchmarks.startup`)",
        "",
        f"{time.strftime('%Y-%m-%d')}, median of {runs} runs, each a fresh process; instructions counted by "
        f"callgrind (the same every run). Machine: {machine()}. Ratios are CPU seconds / instructions "
        f"over python-dxf's; the goal is at most {GOAL}.",
        "",
        "| import | cpu s | wall s | instructions (M) | ratio to python-dxf |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, row in imports.items():
        lines.append(f"| {label} | {row.cpu:.3f} | {row.wall:.3f} | {millions(row)} | {_ratio(row, dxf)} |")
    lines += [
        "",
        "| command | ocimodel cpu s | python-dxf cpu s | ocimodel instructions (M) | python-dxf instructions (M) "
        "| ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for verb, (mine, theirs) in verbs.items():
        lines.append(
            f"| {verb} | {mine.cpu:.3f} | {theirs.cpu:.3f} | {millions(mine)} | {millions(theirs)} "
            f"| {_ratio(mine, theirs)} |"
        )
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="counted runs of each command (after one warm-up)")
    parser.add_argument("--no-valgrind", action="store_true", help="skip the instruction counts")
    args = parser.parse_args()
    output = HERE if args.runs == parser.get_default("runs") else HERE / "out"
    output.mkdir(exist_ok=True)
    compile_ocimodel()
    env = _environment()
    count = not args.no_valgrind
    imports = {
        label: measure(label, [sys.executable, "-c", code], env, args.runs, count) for label, code in IMPORTS.items()
    }
    verbs: dict[str, tuple[Row, Row]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ocimodel-startup-", dir=scratch_root()) as folder,
        DistributionRegistry(Path(folder) / "registry") as registry,
    ):
        image = random.image(4096, 2, seed=1)
        remote.write(f"{registry.host}/startup/image:v1", image, insecure=True)
        dxf_env = {**env, "DXF_HOST": registry.host, "DXF_INSECURE": "1"}
        for verb, (mine, theirs) in commands(registry.host, str(image.manifest().config.digest)).items():
            verbs[verb] = (
                measure(f"ocimodel {verb}", mine, env, args.runs, count),
                measure(f"python-dxf {verb}", theirs, dxf_env, args.runs, count),
            )
    text = report(imports, verbs, args.runs)
    target = output / ("RESULTS.md" if output == HERE else "startup.md")
    write_results(text, target, markers=(BEGIN, END))
    print(f"results: {target}")


if __name__ == "__main__":
    main()
