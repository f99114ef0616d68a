"""Figures of the summary: they are written, and every method keeps its one colour."""

from __future__ import annotations

import random

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_rgba
from test_results import corn_like_rows, repeated, row

from spectralfm.errors import InputError
from spectralfm.figures import (
    PALETTE,
    figure_coverage,
    figure_ratio_to_best,
    figure_rmsep_vs_n,
    method_color,
    plot_benchmarks_summary,
    plot_coverage,
    plot_ratio_to_best,
    plot_rmsep_vs_n,
)
from spectralfm.results import benchmarks_summary, summarise
from spectralfm.transfer.registry import METHOD_CLASSES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = [figure_rmsep_vs_n, figure_ratio_to_best, figure_coverage]


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    return summarise(corn_like_rows(), tmp_path_factory.mktemp("s") / "summary.csv")


def legend_colors(fig) -> dict[str, tuple]:
    """Colour of every labelled artist of every panel: {label: rgba}."""
    colors = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            line = handle.lines[0] if hasattr(handle, "lines") else handle  # errorbar container
            color = to_rgba(line.get_color())
            assert colors.setdefault(label, color) == color, f"{label} has two colours"
    return colors


def method_of(label: str) -> str | None:
    name = label.split(" (")[0]
    return name if name in METHOD_CLASSES else None


def assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5_000


def test_every_figure_writes_a_png(summary, tmp_path):
    plot_rmsep_vs_n(summary, tmp_path / "rmsep.png", title="corn")
    plot_ratio_to_best(summary, tmp_path / "ratio.png", title="corn")
    plot_coverage(summary, tmp_path / "coverage.png", title="corn")
    for name in ("rmsep", "ratio", "coverage"):
        assert_png(tmp_path / f"{name}.png")
    assert plt.get_fignums() == []  # closed after saving


def test_benchmarks_summary_figure(summary, tmp_path):
    summarise(corn_like_rows(), tmp_path / "corn.csv")
    tablet = [dict(r, dataset="tablet", source="1", target="2") for r in corn_like_rows()]
    summarise(tablet, tmp_path / "tablet.csv")
    rows = benchmarks_summary(
        [tmp_path / "corn.csv", tmp_path / "tablet.csv"], tmp_path / "b.csv", (5, 10, 20)
    )
    plot_benchmarks_summary(rows, tmp_path / "b.png", datasets=["corn", "tablet"])
    assert_png(tmp_path / "b.png")
    plot_benchmarks_summary([], tmp_path / "empty.png")  # nothing to compare: a note, no error
    assert (tmp_path / "empty.png").read_bytes().startswith(PNG_MAGIC)


def test_colours_come_from_the_registry_not_the_table():
    names = list(METHOD_CLASSES)
    assert method_color("no_transfer") == PALETTE[0]
    assert method_color("pds") == PALETTE[names.index("pds")]
    colors = [method_color(m) for m in names]
    assert len(set(colors)) == len(colors)  # every registered method its own colour
    with pytest.raises(InputError, match="magic"):
        method_color("magic")


@pytest.mark.parametrize("figure", FIGURES, ids=lambda f: f.__name__)
def test_each_method_keeps_its_colour_whatever_the_row_order(summary, figure):
    shuffled = list(summary)
    random.Random(5).shuffle(shuffled)
    without_pds = [r for r in summary if r["method"] not in ("pds", "no_transfer")]
    seen = set()
    for rows in (summary, shuffled, list(reversed(summary)), without_pds):
        fig = figure(rows, "corn")
        colors = legend_colors(fig)
        plt.close(fig)
        for label, color in colors.items():
            method = method_of(label)
            if method is not None:
                assert color == to_rgba(method_color(method)), label
                seen.add(method)
    assert {"pds", "ds", "sbc", "spectralfm"} <= seen


def test_reference_methods_are_dashed_horizontal_lines(summary):
    fig = figure_rmsep_vs_n(summary)
    lines = {line.get_label(): line for ax in fig.axes for line in ax.get_lines()}
    plt.close(fig)
    for method in ("no_transfer", "target_full"):
        line = lines[method]
        assert line.get_linestyle() == "--"
        ys = line.get_ydata()
        assert ys[0] == ys[-1]  # horizontal
    assert lines["pds (kennard_stone)"].get_linestyle() == "-"


def test_fixed_split_only_is_plotted_without_bands(tmp_path):
    rows = [
        row(method=m, split="kennard_stone", n_transfer=n, rmsep=v / n)
        for m, v in (("pds", 1.0), ("sbc", 1.2))
        for n in (5, 10)
    ]
    summary = summarise(rows, tmp_path / "s.csv")
    for plot in (plot_rmsep_vs_n, plot_ratio_to_best, plot_coverage):
        plot(summary, tmp_path / f"{plot.__name__}.png")
        assert_png(tmp_path / f"{plot.__name__}.png")


def test_an_empty_summary_is_refused(tmp_path):
    with pytest.raises(InputError, match="no rows"):
        plot_rmsep_vs_n([], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_coverage_skips_runs_without_an_interval(tmp_path):
    rows = repeated("pds", [0.2, 0.3, 0.25], picp90=float("nan"), mpiw90=float("nan"))
    rows += repeated("sbc", [0.3, 0.3, 0.35])
    summary = summarise(rows, tmp_path / "s.csv", n_train=60)
    plot_coverage(summary, tmp_path / "c.png")
    assert_png(tmp_path / "c.png")
