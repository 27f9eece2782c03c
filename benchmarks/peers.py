"""ocimodel against its peers, side by side: same registry, same machine, same run.

Run with ``scripts/bench`` or ``.venv/bin/python -m benchmarks.peers`` (``--runs``,
``--fixtures``, ``--tools`` and ``--operations`` narrow it). Starts the distribution registry on
127.0.0.1, with its storage on a tmpfs where there is one, builds the fixtures as OCI layouts
(and a folder for building a layer), and times every tool on every operation it can do, each run
a fresh process: median wall time, client CPU and peak RSS (from ``wait4``), and the HTTP
requests the registry logged. A cold push gets a new registry every run; a warm push re-pushes a
tag whose blobs are all there; pulls go to a new folder; a copy goes to a new repository of the
same registry (so blobs can be mounted rather than moved); start-up is the least a command
costs (``ocimodel version``, ``skopeo --version``, importing a Python peer). The
``ocimodel-lib-warm`` row runs the library's operations in a process that has imported ocimodel
already and times only the operation (a fresh session each time), so the library's own cost is
seen apart from start-up.

Writes every run to ``benchmarks/peers.csv``, the medians and the ratios against the ocimodel
CLI into ``benchmarks/RESULTS.md`` (between the ``peers`` markers), and a bar chart of the ratios
to ``benchmarks/peers.png`` when matplotlib is installed (the ``bench`` extra). A narrowed run
(or one with other ``--runs``) writes the same three files into ``benchmarks/out/`` instead,
leaving the full results alone.
"""

from __future__ import annotations

import argparse
import compileall
import csv
import itertools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from benchmarks.peer_tools import OPERATIONS, TOOLS, WARM_MARK, Job, command
from ocimodel import empty, layer, layout, mutate
from ocimodel.image import Image
from ocimodel.mediatype import MediaType
from ocimodel.mutate import IndexAddendum
from ocimodel.platform import Platform
from tests.harness.distribution import DistributionRegistry

HERE = Path(__file__).resolve().parent
MiB = 1 << 20
REQUEST = re.compile(rb'"(?:GET|HEAD|PUT|POST|PATCH|DELETE) /v2/')
BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"
REF_NAME = "org.opencontainers.image.ref.name"
BASELINE = "ocimodel"

# layer payload sizes; the index holds two images of these, one per platform
FIXTURES: dict[str, tuple[int, ...]] = {
    "big": (64 * MiB, 64 * MiB, 128 * MiB),
    "small": (100 * 1024,) * 50,
    "index": (2 * MiB, 2 * MiB),
    "huge": (1024 * MiB,),
    "directory": (8 * MiB,) * 64,  # files of a folder, half random, half repetitive text
    "none": (),  # nothing: for start-up
}
# operations that need one particular fixture (the others take any fixture but these)
ONLY_ON = {"build-layer": "directory", "start-up": "none"}
PLATFORMS = (Platform.parse("linux/amd64"), Platform.parse("linux/arm64/v8"))


@attrs.frozen
class Sample:
    """One timed run."""

    fixture: str
    operation: str
    tool: str
    seconds: float
    cpu: float
    peak_mib: float
    requests: int
    payload_mib: float


def random_image(sizes: Sequence[int], staging: Path) -> Image:
    """An OCI image of incompressible gzip'd layers (level 1: random data does not shrink anyway),
    each a folder holding one file of random bytes, written and read in pieces (the 1 GiB layer
    never sits in memory)."""
    layers = []
    staging.mkdir(parents=True, exist_ok=True)
    for size in sizes:
        folder = Path(tempfile.mkdtemp(dir=staging))
        with (folder / "data").open("wb") as out:
            for start in range(0, size, 8 * MiB):
                out.write(os.urandom(min(8 * MiB, size - start)))
        layers.append(layer.from_directory(folder, media_type=MediaType.OCI_LAYER_GZIP, compression_level=1))
    image = mutate.config_media_type(mutate.media_type(empty.image, MediaType.OCI_MANIFEST), MediaType.OCI_CONFIG)
    return mutate.append_layers(image, *layers)


def build_fixture(name: str, folder: Path) -> tuple[Path, float]:
    """The fixture as an OCI layout tagged ``bench``, and its size in MiB (all blobs)."""
    path = folder / name
    target = layout.Layout(path)
    sizes = FIXTURES[name]
    if name == "directory":
        path.mkdir(parents=True)
        for number, size in enumerate(sizes):
            data = os.urandom(size) if number % 2 else (b"%d lorem ipsum dolor sit amet\n" % number) * (size // 30)
            (path / f"file-{number:03d}").write_bytes(data)
        return path, sum(file.stat().st_size for file in path.iterdir()) / MiB
    if name == "none":
        path.mkdir(parents=True)
        return path, 0.0
    staging = folder / f"{name}-staging"
    if name == "index":
        addenda = [IndexAddendum(random_image(sizes, staging), platform=found) for found in PLATFORMS]
        target.append_index(mutate.append_manifests(empty.index, *addenda), annotations={REF_NAME: "bench"})
    else:
        target.append_image(random_image(sizes, staging), annotations={REF_NAME: "bench"})
    shutil.rmtree(staging)
    payload = sum(blob.stat().st_size for blob in (path / "blobs" / "sha256").iterdir())
    return path, payload / MiB


def compile_ocimodel() -> None:
    """Write ocimodel's bytecode, as installing a wheel does (pip compiles every package it installs,
    the peers included). Without it, where ``PYTHONDONTWRITEBYTECODE`` is set or the tree is
    read-only, every ocimodel process would compile its modules from source (about 0.1 s)."""
    installed = subprocess.run(
        [sys.executable, "-c", "import ocimodel; print(ocimodel.__file__)"],
        cwd=tempfile.gettempdir(),  # not this checkout: where the installed package is
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for folder in {Path(installed).parent, HERE.parent / "ocimodel"}:
        compileall.compile_dir(folder, quiet=1)


def scratch_root() -> Path:
    """A tmpfs when the machine has one: disk write-back would otherwise dominate big runs."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


@contextmanager
def registry_at(folder: Path) -> Iterator[DistributionRegistry]:
    with DistributionRegistry(folder, access_log=True) as registry:
        yield registry


def count_requests(registry: DistributionRegistry, since: int) -> int:
    """Requests logged after byte ``since`` of the registry's log."""
    with registry.log_path.open("rb") as log:
        log.seek(since)
        return len(REQUEST.findall(log.read()))


# Runs a command and reports its wall time, CPU and peak RSS. A child's peak RSS starts at its
# parent's (Linux carries the high-water mark across fork and exec), so the command is started
# from this small process rather than from the benchmark's own, which holds the fixtures.
LAUNCHER = r"""
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
print(json.dumps([os.waitstatus_to_exitcode(status), seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss]))
"""


def timed(argv: Sequence[str]) -> tuple[float, float, float]:
    """Run ``argv`` to completion: wall seconds, CPU seconds and peak RSS in MiB of that process.

    A child that times its own operation (the warm library row) prints ``WARM_MARK [wall, cpu]``:
    those figures replace the whole process's; the peak RSS stays the process's.
    """
    result = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, *argv], stdin=subprocess.DEVNULL, capture_output=True, check=True
    )
    lines = result.stdout.decode(errors="replace").splitlines()
    status, seconds, cpu, peak_kib = json.loads(lines[-1])
    if status != 0:
        raise RuntimeError(f"{argv[0]} failed ({status}): {result.stderr.decode(errors='replace')[-2000:]}")
    for line in lines[:-1]:
        if line.startswith(WARM_MARK):
            seconds, cpu = json.loads(line.removeprefix(WARM_MARK))
    return seconds, cpu, peak_kib / 1024


@attrs.define
class Bench:
    """The fixtures, the long-lived registry and the counters for fresh names."""

    scratch: Path
    registry: DistributionRegistry
    layouts: dict[str, tuple[Path, float]]
    counter: Iterator[int] = attrs.field(factory=itertools.count)

    def fresh(self, stem: str) -> Path:
        return self.scratch / f"{stem}-{next(self.counter)}"

    def seeded(self, fixture: str) -> str:
        """Where :meth:`seed` puts ``fixture``."""
        return f"{self.registry.host}/seed/{fixture}:bench"

    def seed(self, fixture: str) -> None:
        """Push ``fixture`` once with the CLI (the source of pulls, warm pushes and copies)."""
        argv = command("ocimodel", "push-cold", Job(self.layouts[fixture][0], self.seeded(fixture), self.scratch, ""))
        assert argv is not None
        timed(argv)

    def repeat(self, fixture: str, operation: str, tool: str, runs: int) -> list[Sample]:
        """One warm-up run, then ``runs`` counted ones (none if the tool cannot do it); prints the medians."""
        if self.run(fixture, operation, tool) is None:
            return []
        found = [self.run(fixture, operation, tool) for _ in range(runs)]
        counted = [sample for sample in found if sample is not None]
        summary = medians(counted)[fixture, operation, tool]
        print(
            f"{fixture:6} {operation:12} {tool:12} {summary.seconds:7.3f} s  cpu {summary.cpu:6.3f} s  "
            f"{summary.peak_mib:6.1f} MiB  {summary.requests:4} requests",
            flush=True,
        )
        return counted

    def run(self, fixture: str, operation: str, tool: str) -> Sample | None:
        if ONLY_ON.get(operation) != (fixture if fixture in ONLY_ON.values() else None):
            return None
        path, payload = self.layouts[fixture]
        job = Job(
            path,
            self.seeded(fixture),
            self.fresh(f"out-{tool}"),
            f"{self.registry.host}/copy/{next(self.counter)}:bench",
        )
        if operation == "push-cold":
            folder = self.fresh("cold")
            with registry_at(folder) as cold:
                job = attrs.evolve(job, reference=f"{cold.host}/bench/{fixture}:bench")
                return self._measure(cold, fixture, operation, tool, job, payload, cleanup=folder)
        return self._measure(self.registry, fixture, operation, tool, job, payload, cleanup=job.output)

    def _measure(
        self,
        registry: DistributionRegistry,
        fixture: str,
        operation: str,
        tool: str,
        job: Job,
        payload: float,
        cleanup: Path,
    ) -> Sample | None:
        argv = command(tool, operation, job)
        if argv is None:
            return None
        since = registry.log_path.stat().st_size
        try:
            seconds, cpu, peak = timed(argv)
            requests = count_requests(registry, since)
        finally:
            shutil.rmtree(cleanup, ignore_errors=True)
            if cleanup.is_file():
                cleanup.unlink()
        return Sample(fixture, operation, tool, seconds, cpu, peak, requests, payload)


def medians(samples: Sequence[Sample]) -> dict[tuple[str, str, str], Sample]:
    """One sample per (fixture, operation, tool): the median of each figure."""
    grouped: dict[tuple[str, str, str], list[Sample]] = {}
    for sample in samples:
        grouped.setdefault((sample.fixture, sample.operation, sample.tool), []).append(sample)
    return {(f, o, t): Sample(f, o, t, *figures(group), group[0].payload_mib) for (f, o, t), group in grouped.items()}


def figures(group: Sequence[Any]) -> tuple[float, float, float, int]:
    """Of runs with ``seconds``, ``cpu``, ``peak_mib`` and ``requests``: the median time, CPU and
    request count, and the worst peak RSS (in that order)."""
    return (
        statistics.median(s.seconds for s in group),
        statistics.median(s.cpu for s in group),
        max(s.peak_mib for s in group),
        round(statistics.median(s.requests for s in group)),
    )


def machine() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), platform.processor())
    versions = subprocess.run(["skopeo", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; {versions}"


def report(samples: Sequence[Sample], runs: int) -> str:
    """The Markdown table: medians, throughput, and ratios against the ocimodel CLI."""
    found = medians(samples)
    lines = [
        BEGIN,
        "## Against the peers",
        "",
        f"`python -m benchmarks.peers`, {time.strftime('%Y-%m-%d')}, median of {runs} runs, each a whole "
        f"process. Machine: {machine()}. Ratios are the tool's figure over the ocimodel CLI's "
        "(below 1: the peer is better).",
        "",
        "| fixture | operation | tool | wall s | MiB/s | cpu s | peak RSS MiB | requests | wall ratio | cpu ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (fixture, operation, tool), sample in sorted(found.items(), key=lambda item: _order(item[0])):
        base = found.get((fixture, operation, BASELINE))
        moved = operation not in ("push-warm", "copy", "start-up")
        rate = f"{sample.payload_mib / sample.seconds:.0f}" if moved else "—"
        ratio = f"{sample.seconds / base.seconds:.2f}" if base else "—"
        cpu_ratio = f"{sample.cpu / base.cpu:.2f}" if base and base.cpu else "—"
        lines.append(
            f"| {fixture} | {operation} | {tool} | {sample.seconds:.3f} | {rate} | {sample.cpu:.3f} | "
            f"{sample.peak_mib:.1f} | {sample.requests} | {ratio} | {cpu_ratio} |"
        )
    lines += ["", "![wall-time ratios against ocimodel](peers.png)", END]
    return "\n".join(lines)


def _order(key: tuple[str, str, str]) -> tuple[int, int, int]:
    fixture, operation, tool = key
    return list(FIXTURES).index(fixture), OPERATIONS.index(operation), TOOLS.index(tool)


def write_results(text: str, results: Path, markers: tuple[str, str] = (BEGIN, END)) -> None:
    """Put ``text`` between the ``markers`` of ``results`` (the rest of the file is kept)."""
    begin, end = markers
    current = results.read_text() if results.exists() else "# Benchmark results\n"
    if begin in current:
        head, _, rest = current.partition(begin)
        _, _, tail = rest.partition(end)
        current = head + text + tail
    else:
        current = current.rstrip("\n") + "\n\n" + text + "\n"
    results.write_text(current)


def write_rows(rows: Sequence[Any], path: Path) -> Path:
    """``rows`` (attrs instances of one class) as a CSV file, a header of field names first."""
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        if rows:
            writer.writerow([field.name for field in attrs.fields(type(rows[0]))])
        writer.writerows(attrs.astuple(row) for row in rows)
    return path


def write_csv(samples: Sequence[Sample], folder: Path) -> Path:
    return write_rows(samples, folder / "peers.csv")


def pyplot_or_none() -> Any:
    """matplotlib's ``pyplot``, drawing to files (no display); ``None`` where it is not installed
    (it is the ``bench`` extra's: the charts are optional)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        return None
    return pyplot


def chart(samples: Sequence[Sample], folder: Path) -> Path | None:
    """Bars of wall-time ratio against the ocimodel CLI, one group per fixture and operation."""
    pyplot = pyplot_or_none()
    if pyplot is None:
        return None
    found = medians(samples)
    groups = sorted({(fixture, operation) for fixture, operation, _ in found}, key=lambda g: _order((*g, BASELINE)))
    tools = [tool for tool in TOOLS if tool != BASELINE and any(key[2] == tool for key in found)]
    figure, axes = pyplot.subplots(figsize=(max(8, len(groups) * 0.9), 4.5))
    width = 0.8 / max(len(tools), 1)
    for offset, tool in enumerate(tools):
        heights = []
        for fixture, operation in groups:
            base, other = found.get((fixture, operation, BASELINE)), found.get((fixture, operation, tool))
            heights.append(other.seconds / base.seconds if base and other else 0)
        axes.bar([n + offset * width for n in range(len(groups))], heights, width, label=tool)
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xticks([n + width * (len(tools) - 1) / 2 for n in range(len(groups))])
    axes.set_xticklabels([f"{f}\n{o}" for f, o in groups], fontsize=7)
    axes.set_ylabel("wall time ÷ ocimodel CLI (higher: ocimodel faster)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    path = folder / "peers.png"
    figure.savefig(path, dpi=110)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="counted runs (after one warm-up)")
    parser.add_argument("--fixtures", default="big,small,index,huge,directory,none")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--operations", default=",".join(OPERATIONS))
    args = parser.parse_args()
    fixtures, tools, operations = (value.split(",") for value in (args.fixtures, args.tools, args.operations))
    # A narrowed run must not replace the full results with its few rows: it reports elsewhere.
    whole = all(parser.get_default(name) == getattr(args, name) for name in ("runs", "fixtures", "tools", "operations"))
    output = HERE if whole else HERE / "out"
    output.mkdir(exist_ok=True)
    samples: list[Sample] = []
    compile_ocimodel()
    with tempfile.TemporaryDirectory(prefix="ocimodel-peers-", dir=scratch_root()) as folder:
        scratch = Path(folder)
        layouts = {name: build_fixture(name, scratch / "fixtures") for name in fixtures}
        with registry_at(scratch / "registry") as registry:
            bench = Bench(scratch, registry, layouts)
            for fixture in fixtures:
                if fixture not in ONLY_ON.values():
                    bench.seed(fixture)
                for operation, tool in itertools.product(operations, tools):
                    samples += bench.repeat(fixture, operation, tool, args.runs)
    print(f"raw figures: {write_csv(samples, output)}")
    write_results(report(samples, args.runs), output / "RESULTS.md")
    drawn = chart(samples, output)
    print(f"results: {output / 'RESULTS.md'}" + (f"; chart: {drawn}" if drawn else " (no matplotlib: no chart)"))


if __name__ == "__main__":
    main()
