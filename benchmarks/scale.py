"""Scale: copying a repository of N tags, and listing a catalog of N repositories, as N grows.

Run with ``.venv/bin/python -m benchmarks.scale`` (``--sizes 10,100`` for a quick run; ``--runs``;
``--operations``, ``--tools``). For each size N (10, 100 and 1000 by default):

- ``copy-same``: ``ocimodel copy --all-tags SRC DST`` to a new repository of the same registry
  (blobs are mounted), against ``skopeo sync --src docker --dest docker --preserve-digests`` of
  the same source into another new repository;
- ``copy-other``: the same, to a new registry every run (every blob moves);
- ``catalog``: ``ocimodel catalog`` of a registry holding N repositories. skopeo has no catalog:
  it is compared with python-dxf's ``list_repos()`` (its documented call, in the registry's
  default page size) and with ``stdlib-floor``, the least a Python process can do (http.client
  walking the ``Link`` pages, 1000 names a page, and printing each name).

The source is a repository of N tags, images that share three small base layers (4 KiB of
random data each) and have one small layer (256 bytes) and a config of their own, pushed through
the library in this process (blobs in parallel, each shared blob once) before anything is timed.
Every run is a whole process, started by :func:`benchmarks.peers.timed`: wall time, client CPU
and peak RSS (``wait4``), and the requests the registries logged. After each copy the
destination's tags are counted and one digest compared, so a tool that copied nothing would
show. skopeo keeps its blob-info cache where it always does (``/var/lib/containers/cache`` for
root, on disk), as a user's would.

Each size is run ``--runs`` times (after one warm-up of each command at the first size), but no
more than ``--tag-budget`` tags in all, so the largest size runs once. Writes the runs to
``benchmarks/out/scale.csv``, the medians to ``benchmarks/out/scale.md`` (time per tag and
ratios against ocimodel) and, where matplotlib is installed (the ``bench`` extra), a plot of
milliseconds per tag and peak RSS against N to ``benchmarks/out/scale.png``.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import attrs

from benchmarks.peers import (
    compile_ocimodel,
    count_requests,
    figures,
    machine,
    pyplot_or_none,
    registry_at,
    scratch_root,
    timed,
    write_rows,
)
from ocimodel import empty, mutate, random, remote
from ocimodel.image import Image
from ocimodel.mediatype import MediaType
from tests.harness.distribution import DistributionRegistry

HERE = Path(__file__).resolve().parent
SIZES = (10, 100, 1000)
OPERATIONS = ("copy-same", "copy-other", "catalog")
TOOLS = ("ocimodel", "skopeo", "python-dxf", "stdlib-floor")
#: Which tools each operation is timed with (skopeo has no catalog; the Python peers no sync).
DONE_BY = {
    "copy-same": ("ocimodel", "skopeo"),
    "copy-other": ("ocimodel", "skopeo"),
    "catalog": ("ocimodel", "python-dxf", "stdlib-floor"),
}
BASELINE = "ocimodel"
#: Pushes at once while the fixtures are built.
FIXTURE_JOBS = 8

_DXF_CATALOG = r"""
import sys
from dxf import DXFBase
for name in DXFBase(sys.argv[1], insecure=True).list_repos():
    print(name)
"""

# The least a Python process can do to list a catalog: pages of 1000 over one connection.
_FLOOR_CATALOG = r"""
import http.client, json, re, sys
connection = http.client.HTTPConnection(sys.argv[1])
path = "/v2/_catalog?n=1000"
out = []
while path:
    connection.request("GET", path)
    response = connection.getresponse()
    out.extend(json.loads(response.read())["repositories"])
    found = re.match(r"<([^>]+)>", response.headers.get("Link") or "")
    path = found.group(1) if found else None
sys.stdout.write("".join(name + "\n" for name in out))
"""


@attrs.frozen
class Sample:
    """One timed run: ``size`` tags copied, or repositories listed."""

    size: int
    operation: str
    tool: str
    seconds: float
    cpu: float
    peak_mib: float
    requests: int


def base_image() -> Image:
    """Three shared layers on an empty OCI image."""
    image = mutate.config_media_type(mutate.media_type(empty.image, MediaType.OCI_MANIFEST), MediaType.OCI_CONFIG)
    return mutate.append_layers(image, *(random.layer(4096, MediaType.OCI_LAYER_GZIP, seed=n) for n in range(3)))


def push_tags(repository: str, count: int) -> None:
    """``count`` tags ``t00000``, … in ``repository``: the base image and a layer of each tag's own."""
    base = base_image()
    session = remote.Session(jobs=FIXTURE_JOBS)
    writer = remote.Writer(session)

    def push(number: int) -> None:
        unique = random.layer(256, MediaType.OCI_LAYER_GZIP, seed=1_000_000 + number)
        writer.write({session.reference(f"{repository}:t{number:05d}"): mutate.append_layers(base, unique)})

    with ThreadPoolExecutor(FIXTURE_JOBS) as pool:
        list(pool.map(push, range(count)))
    session.close()


def push_repositories(host: str, count: int) -> None:
    """``count`` repositories ``catalog/r00000``, … each holding one small image (mounted from the first)."""
    session = remote.Session(jobs=FIXTURE_JOBS)
    first = f"{host}/catalog/r00000:latest"
    remote.write(first, random.image(256, 1, seed=7), session=session)
    source = remote.image(first, session=session)
    writer = remote.Writer(session)
    with ThreadPoolExecutor(FIXTURE_JOBS) as pool:
        refs = (session.reference(f"{host}/catalog/r{n:05d}:latest") for n in range(1, count))
        list(pool.map(lambda ref: writer.write({ref: source}), refs))
    session.close()


def _check_copy(source: str, destination: str, size: int) -> None:
    """The destination has every tag, and the first names the source's manifest."""
    tags = remote.list_tags(destination)
    if len(tags) != size:
        raise RuntimeError(f"{destination} has {len(tags)} tags, not {size}")
    want, got = remote.head(f"{source}:t00000").digest, remote.head(f"{destination}:t00000").digest
    if want != got:
        raise RuntimeError(f"{destination}:t00000 is {got}, not {want} (the source's)")


@attrs.define
class Bench:
    """The scratch folder, the source registry and a counter for fresh names."""

    scratch: Path
    registry: DistributionRegistry
    counter: Iterator[int] = attrs.field(factory=itertools.count)

    def source(self, size: int) -> str:
        return f"{self.registry.host}/scale/n{size}"

    def run(self, size: int, operation: str, tool: str, listed: DistributionRegistry | None) -> Sample:
        """One run of ``operation`` by ``tool`` (``listed``: the registry whose catalog is listed)."""
        if operation == "catalog":
            assert listed is not None
            return self.catalog(size, listed, tool)
        return self.copy(size, operation, tool)

    def copy(self, size: int, operation: str, tool: str) -> Sample:
        """One ``copy --all-tags`` (or ``skopeo sync``) of the ``size``-tag repository."""
        number = next(self.counter)
        with ExitStack() as stack:
            target = self.registry
            if operation == "copy-other":
                folder = self.scratch / f"other-{number}"
                stack.callback(shutil.rmtree, folder, ignore_errors=True)
                target = stack.enter_context(registry_at(folder))
            source = self.source(size)
            if tool == "ocimodel":
                destination = f"{target.host}/copy-{number}/n{size}"
                argv = [_ocimodel(), "--insecure", "copy", "--all-tags", source, destination]
            else:  # skopeo sync puts the source's last path component under the destination
                destination = f"{target.host}/sync-{number}/n{size}"
                argv = [
                    "skopeo",
                    "sync",
                    "--src=docker",
                    "--dest=docker",
                    "--src-tls-verify=false",
                    "--dest-tls-verify=false",
                    "--preserve-digests",
                    source,
                    f"{target.host}/sync-{number}",
                ]
            logs = {self.registry, target}
            since = {registry: registry.log_path.stat().st_size for registry in logs}
            seconds, cpu, peak = timed(argv)
            requests = sum(count_requests(registry, since[registry]) for registry in logs)
            _check_copy(source, destination, size)
        return Sample(size, operation, tool, seconds, cpu, peak, requests)

    def catalog(self, size: int, registry: DistributionRegistry, tool: str) -> Sample:
        """One listing of ``registry``'s catalog (``size`` repositories); its output is checked."""
        output = self.scratch / f"catalog-{next(self.counter)}.txt"
        if tool == "ocimodel":
            argv = [_ocimodel(), "--insecure", "catalog", registry.host]
        else:
            argv = [sys.executable, "-c", _DXF_CATALOG if tool == "python-dxf" else _FLOOR_CATALOG, registry.host]
        since = registry.log_path.stat().st_size
        # the command's own output into a file (exec: the shell is replaced, not measured)
        seconds, cpu, peak = timed(["sh", "-c", 'exec "$@" >"$0"', str(output), *argv])
        requests = count_requests(registry, since)
        listed = len(output.read_text().split())
        output.unlink()
        if listed != size:
            raise RuntimeError(f"{tool} listed {listed} repositories, not {size}")
        return Sample(size, "catalog", tool, seconds, cpu, peak, requests)


def _ocimodel() -> str:
    return str(Path(sys.executable).with_name("ocimodel"))


def available(tool: str) -> bool:
    """Whether ``tool`` can run here (skopeo on PATH; python-dxf importable)."""
    if tool == "skopeo":
        return shutil.which("skopeo") is not None
    if tool == "python-dxf":
        return importlib.util.find_spec("dxf") is not None
    return True


def medians(samples: Sequence[Sample]) -> dict[tuple[int, str, str], Sample]:
    """One sample per (size, operation, tool): the median time, CPU and requests, the worst peak."""
    grouped: dict[tuple[int, str, str], list[Sample]] = {}
    for sample in samples:
        grouped.setdefault((sample.size, sample.operation, sample.tool), []).append(sample)
    return {(n, o, t): Sample(n, o, t, *figures(group)) for (n, o, t), group in grouped.items()}


def _order(key: tuple[int, str, str]) -> tuple[int, int, int]:
    size, operation, tool = key
    return OPERATIONS.index(operation), size, TOOLS.index(tool)


def report(samples: Sequence[Sample], runs: dict[int, int]) -> str:
    """The Markdown table: medians per size, time and requests per tag, ratios against ocimodel."""
    found = medians(samples)
    counted = ", ".join(f"N={size}: {count}" for size, count in sorted(runs.items()))
    lines = [
        "## Scale: copy --all-tags and catalog as N grows",
        "",
        f"`python -m benchmarks.scale`, {time.strftime('%Y-%m-%d')}, median of the runs ({counted}), each a whole "
        f"process. Machine: {machine()}. N is the tags copied (copy-same: within the registry; copy-other: to "
        "another) or the repositories listed (catalog). Ratios are the tool's wall time over ocimodel's "
        "(below 1: the peer is faster).",
        "",
        "| operation | N | tool | wall s | ms per tag | cpu s | peak RSS MiB | requests | requests per tag "
        "| wall ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, sample in sorted(found.items(), key=lambda item: _order(item[0])):
        size, operation, tool = key
        base = found.get((size, operation, BASELINE))
        ratio = f"{sample.seconds / base.seconds:.2f}" if base else "—"
        lines.append(
            f"| {operation} | {size} | {tool} | {sample.seconds:.3f} | {1000 * sample.seconds / size:.2f} | "
            f"{sample.cpu:.3f} | {sample.peak_mib:.1f} | {sample.requests} | {sample.requests / size:.1f} | {ratio} |"
        )
    lines += ["", "![milliseconds per tag and peak RSS against N](scale.png)", ""]
    return "\n".join(lines)


_LINES = {"ocimodel": "-", "skopeo": "--", "python-dxf": "-.", "stdlib-floor": ":"}
_MARKERS = {"ocimodel": "o", "skopeo": "s", "python-dxf": "^", "stdlib-floor": "x"}


def chart(samples: Sequence[Sample], folder: Path) -> Path | None:
    """Milliseconds per tag (left) and peak RSS (right) against N, a line per operation and tool."""
    pyplot = pyplot_or_none()
    if pyplot is None:
        return None
    found = medians(samples)
    series = sorted({(operation, tool) for _, operation, tool in found}, key=lambda s: _order((0, *s)))
    figure, (per_tag, memory) = pyplot.subplots(1, 2, figsize=(11, 4.5))
    for operation, tool in series:
        points = sorted((size, sample) for (size, op, name), sample in found.items() if (op, name) == (operation, tool))
        sizes = [size for size, _ in points]
        # a colour per operation, a line and marker per tool (ocimodel's solid)
        style = {"color": f"C{OPERATIONS.index(operation)}", "linestyle": _LINES[tool], "marker": _MARKERS[tool]}
        label = f"{operation}: {tool}"
        per_tag.plot(sizes, [1000 * s.seconds / size for size, s in points], label=label, **style)
        memory.plot(sizes, [s.peak_mib for _, s in points], label=label, **style)
    for axes, title in ((per_tag, "wall milliseconds per tag (or repository)"), (memory, "peak RSS, MiB")):
        axes.set_xscale("log")
        axes.set_xlabel("N (tags copied, repositories listed)")
        axes.set_title(title, fontsize=10)
        axes.grid(True, alpha=0.3)
    per_tag.set_yscale("log")
    memory.set_ylim(bottom=0)
    memory.legend(fontsize=7)
    figure.tight_layout()
    path = folder / "scale.png"
    figure.savefig(path, dpi=110)
    return path


def runs_for(size: int, runs: int, budget: int) -> int:
    """Counted runs at ``size``: ``runs``, but no more than ``budget`` tags in all (at least one)."""
    return max(1, min(runs, budget // size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="N: tags copied, repositories listed")
    parser.add_argument("--runs", type=int, default=3, help="counted runs per size (after one warm-up)")
    parser.add_argument("--tag-budget", type=int, default=1000, help="at most this many tags in a size's runs")
    parser.add_argument("--operations", default=",".join(OPERATIONS))
    parser.add_argument("--tools", default=",".join(TOOLS))
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    operations = args.operations.split(",")
    tools = [tool for tool in args.tools.split(",") if available(tool)]
    for missing in sorted(set(args.tools.split(",")) - set(tools)):
        print(f"{missing}: not installed here, left out")
    output = HERE / "out"
    output.mkdir(exist_ok=True)
    compile_ocimodel()
    samples: list[Sample] = []
    runs = {size: runs_for(size, args.runs, args.tag_budget) for size in sizes}
    warmed: set[tuple[str, str]] = set()
    with tempfile.TemporaryDirectory(prefix="ocimodel-scale-", dir=scratch_root()) as folder:
        scratch = Path(folder)
        with registry_at(scratch / "registry") as registry:
            bench = Bench(scratch, registry)
            for size in sizes:
                started = time.perf_counter()
                if {"copy-same", "copy-other"} & set(operations):
                    push_tags(bench.source(size), size)
                print(f"N={size}: fixture pushed in {time.perf_counter() - started:.1f} s", flush=True)
                for operation in operations:
                    with ExitStack() as stack:
                        listed = None
                        if operation == "catalog":
                            listed = stack.enter_context(registry_at(scratch / f"catalog-{size}"))
                            push_repositories(listed.host, size)
                        for tool in (tool for tool in DONE_BY[operation] if tool in tools):
                            if (operation, tool) not in warmed:
                                bench.run(size, operation, tool, listed)
                                warmed.add((operation, tool))
                            found = [bench.run(size, operation, tool, listed) for _ in range(runs[size])]
                            samples += found
                            summary = medians(found)[size, operation, tool]
                            print(
                                f"N={size:<5} {operation:10} {tool:12} {summary.seconds:8.3f} s "
                                f"{1000 * summary.seconds / size:8.2f} ms/tag  cpu {summary.cpu:7.3f} s  "
                                f"{summary.peak_mib:6.1f} MiB  {summary.requests:6} requests",
                                flush=True,
                            )
    print(f"raw figures: {write_rows(samples, output / 'scale.csv')}")
    table = output / "scale.md"
    table.write_text(report(samples, runs))
    drawn = chart(samples, output)
    print(f"table: {table}" + (f"; chart: {drawn}" if drawn else " (no matplotlib: no chart)"))


if __name__ == "__main__":
    main()
