"""The scale benchmark's own arithmetic: medians, time per tag, ratios against ocimodel, runs per size."""

from __future__ import annotations

from benchmarks.scale import Sample, medians, report, runs_for


def sample(size: int, tool: str, seconds: float, peak: float = 30.0, requests: int = 80) -> Sample:
    return Sample(size, "copy-same", tool, seconds, cpu=seconds / 2, peak_mib=peak, requests=requests)


def row(text: str, size: int, tool: str) -> list[str]:
    found = [line for line in text.splitlines() if line.startswith(f"| copy-same | {size} | {tool} |")]
    assert len(found) == 1, text
    return [cell.strip() for cell in found[0].strip("|").split("|")]


def test_medians_take_the_middle_time_and_requests_and_the_worst_memory() -> None:
    runs = [
        sample(10, "skopeo", 3.0, 20.0, 90),
        sample(10, "skopeo", 1.0, 25.0, 100),
        sample(10, "skopeo", 2.0, 21.0, 80),
    ]
    summary = medians(runs)[10, "copy-same", "skopeo"]
    assert (summary.seconds, summary.cpu, summary.peak_mib, summary.requests) == (2.0, 1.0, 25.0, 90)


def test_time_and_requests_are_per_tag_and_ratios_against_ocimodel_at_the_same_size() -> None:
    text = report(
        [sample(100, "ocimodel", 2.0), sample(100, "skopeo", 5.0, requests=2000), sample(1000, "skopeo", 30.0)],
        {100: 3, 1000: 1},
    )
    assert row(text, 100, "ocimodel")[3:] == ["2.000", "20.00", "1.000", "30.0", "80", "0.8", "1.00"]
    assert row(text, 100, "skopeo")[4::4] == ["50.00", "20.0"]
    assert row(text, 100, "skopeo")[-1] == "2.50"
    assert row(text, 1000, "skopeo")[-1] == "—"  # no ocimodel figure at that size
    assert "N=100: 3, N=1000: 1" in text


def test_the_tag_budget_bounds_the_runs_but_every_size_runs_once() -> None:
    assert [runs_for(size, 3, 1000) for size in (10, 100, 400, 1000, 5000)] == [3, 3, 2, 1, 1]
