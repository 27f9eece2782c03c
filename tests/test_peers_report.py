"""The peer benchmark's own arithmetic and report: medians, ratios against ocimodel, the markers."""

from __future__ import annotations

from pathlib import Path

from benchmarks.peers import BEGIN, END, Sample, medians, report, write_results


def sample(tool: str, seconds: float, cpu: float = 1.0, peak: float = 30.0, requests: int = 10) -> Sample:
    return Sample("big", "pull-oci", tool, seconds, cpu, peak, requests, payload_mib=256.0)


def row(text: str, tool: str) -> list[str]:
    found = [line for line in text.splitlines() if line.startswith(f"| big | pull-oci | {tool} |")]
    assert len(found) == 1, text
    return [cell.strip() for cell in found[0].strip("|").split("|")]


def test_medians_take_the_middle_time_the_worst_memory_and_the_middle_request_count() -> None:
    runs = [
        sample("skopeo", 3.0, 0.3, 20.0, 9),
        sample("skopeo", 1.0, 0.1, 25.0, 10),
        sample("skopeo", 2.0, 0.2, 21.0, 12),
    ]
    summary = medians(runs)["big", "pull-oci", "skopeo"]
    assert (summary.seconds, summary.cpu, summary.peak_mib, summary.requests) == (2.0, 0.2, 25.0, 10)


def test_ratios_are_against_the_ocimodel_cli_and_throughput_is_payload_over_time() -> None:
    text = report([sample("ocimodel", 2.0, cpu=1.0), sample("skopeo", 1.0, cpu=1.5), sample("python-dxf", 4.0)], 1)
    assert text.startswith(BEGIN)
    assert text.endswith(END)
    assert row(text, "ocimodel")[3:] == ["2.000", "128", "1.000", "30.0", "10", "1.00", "1.00"]
    assert row(text, "skopeo")[-2:] == ["0.50", "1.50"]
    assert row(text, "python-dxf")[-2:] == ["2.00", "1.00"]
    tools = [line.split("|")[3].strip() for line in text.splitlines() if line.startswith("| big |")]
    assert tools == ["ocimodel", "skopeo", "python-dxf"]  # the order of the tool list, not of the input


def test_without_an_ocimodel_figure_there_is_no_ratio() -> None:
    assert row(report([sample("skopeo", 1.0)], 1), "skopeo")[-2:] == ["—", "—"]


def test_results_replace_only_what_is_between_the_markers(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(f"# Results\n\nbefore\n\n{BEGIN}\nold table\n{END}\n\nafter\n")
    write_results(f"{BEGIN}\nnew table\n{END}", results)
    assert results.read_text() == f"# Results\n\nbefore\n\n{BEGIN}\nnew table\n{END}\n\nafter\n"
    fresh = tmp_path / "fresh.md"
    write_results(f"{BEGIN}\nfirst\n{END}", fresh)
    assert fresh.read_text().endswith(f"{BEGIN}\nfirst\n{END}\n")
