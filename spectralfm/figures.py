"""Figures of the summary table (spectralfm.results.summarise): RMSEP against N, the ratio to the
best classical method, interval coverage, and the summary over all benchmarks.

Every method has ONE colour in every figure and every run: the colour is taken from the method's
position in the registry (spectralfm.transfer.registry.METHOD_CLASSES), never from the order in
which methods happen to appear in a table. Line style tells the selection of the standards:
solid for Kennard-Stone, dash-dot for random; dashed horizontal lines are the methods that use no
standards (no_transfer, target_full).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on clusters and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from spectralfm.atomic import atomic_path  # noqa: E402
from spectralfm.errors import InputError  # noqa: E402
from spectralfm.results import method_order, preferred_scheme  # noqa: E402
from spectralfm.transfer.registry import METHOD_CLASSES  # noqa: E402

# tab20's ten dark colours, then its ten light ones: neighbours in the registry differ clearly.
_TAB20 = plt.get_cmap("tab20").colors
PALETTE = [_TAB20[i] for i in range(0, 20, 2)] + [_TAB20[i] for i in range(1, 20, 2)]
LINE_STYLES = {"kennard_stone": "-", "random": "-."}
MARKERS = {"kennard_stone": "o", "random": "s"}
REFERENCE_STYLE = "--"
NOMINAL_COVERAGE = 0.90


def method_color(method: str) -> tuple:
    """The method's fixed colour (by its position in the registry)."""
    names = list(METHOD_CLASSES)
    if method not in names:
        raise InputError(
            f"method {method!r} is not in spectralfm.transfer.registry.METHOD_CLASSES, "
            "so it has no colour"
        )
    return PALETTE[names.index(method) % len(PALETTE)]


def _finite(value) -> bool:
    return value is not None and math.isfinite(float(value))


def _save(fig: Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        # bbox_inches="tight" grows the canvas to hold the legend right of the panels.
        fig.savefig(
            tmp, dpi=110, format=Path(path).suffix.lstrip(".") or "png", bbox_inches="tight"
        )
    plt.close(fig)


def _scheme_rows(summary: list[dict]) -> tuple[str, list[dict]]:
    scheme = preferred_scheme(summary)
    if scheme is None:
        raise InputError("the summary has no rows to plot")
    return scheme, [row for row in summary if row["scheme"] == scheme]


def _grid(rows: list[dict]):
    """A figure with one panel per pair (rows) and property (columns)."""
    pairs = sorted({(r["source"], r["target"]) for r in rows})
    properties = sorted({r["property"] for r in rows})
    fig, axes = plt.subplots(
        len(pairs),
        len(properties),
        figsize=(3.6 * len(properties), 2.9 * len(pairs)),
        squeeze=False,
        sharex=True,
    )
    panels = {}
    for i, pair in enumerate(pairs):
        for j, prop in enumerate(properties):
            ax = axes[i, j]
            ax.set_title(f"{prop}: {pair[0]} -> {pair[1]}", fontsize=9)
            ax.grid(alpha=0.3, which="both")
            if i == len(pairs) - 1:
                ax.set_xlabel("transfer standards N")
            panels[(pair, prop)] = [
                r for r in rows if (r["source"], r["target"]) == pair and r["property"] == prop
            ]
            if not panels[(pair, prop)]:
                ax.text(0.5, 0.5, "no rows", ha="center", va="center", transform=ax.transAxes)
    return fig, axes, panels


def _curves(rows: list[dict]) -> dict[tuple, list[dict]]:
    """Rows with standards by (method, selection), each sorted by N, in registry order."""
    curves: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        if row["selection"] != "none":
            curves[(row["method"], row["selection"])].append(row)
    ordered = sorted(curves, key=lambda key: (method_order(key[0]), key[1]))
    return {key: sorted(curves[key], key=lambda r: r["n_transfer"]) for key in ordered}


def _references(rows: list[dict]) -> list[dict]:
    """Rows of the methods that use no standards, in registry order."""
    return sorted(
        (r for r in rows if r["selection"] == "none"), key=lambda r: method_order(r["method"])
    )


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([r[key] if _finite(r[key]) else np.nan for r in rows], dtype=float)


def _legend(fig: Figure, axes) -> None:
    """One legend right of the panels, each label once, methods in the registry's order."""
    seen: dict[str, object] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    labels = sorted(seen, key=lambda label: (method_order(label.split(" (")[0]), label))
    fig.tight_layout()
    if labels:
        fig.legend(
            [seen[label] for label in labels],
            labels,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            fontsize=7,
        )


def _plain_log(ax, axis: str = "y", ticks=None) -> None:
    """Log scale with plain tick labels (0.9, 1, 1.1 rather than 9 x 10^-1); `ticks`: label
    only those. Over more than a decade only the 1, 2, 5 ticks between decades are labelled."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    limits = ax.get_ylim if axis == "y" else ax.get_xlim

    def minor(value, _):
        lo, hi = sorted(limits())
        wide = lo > 0 and math.log10(hi / lo) > 1.0
        mantissa = round(value / 10 ** math.floor(math.log10(value) + 1e-9), 6)
        return "" if wide and mantissa not in (1.0, 2.0, 5.0) else f"{value:.3g}"

    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3g}"))
    if ticks is not None:
        target.set_ticks(sorted(ticks))
        target.set_minor_formatter(NullFormatter())
    else:
        target.set_minor_formatter(FuncFormatter(minor))


def _standards(panel: list[dict]) -> list[int]:
    """The N values of the rows with standards (the x ticks)."""
    return sorted({r["n_transfer"] for r in panel if r["selection"] != "none"})


def _label(method: str, selection: str) -> str:
    return f"{method} ({selection})"


# ---- (a) RMSEP against N


def figure_rmsep_vs_n(summary: list[dict], title: str = "") -> Figure:
    """Mean RMSEP against N per pair (rows) and property (columns) on the repeated splits (the
    fixed split when there are none), its 95% interval as a band; dashed: no standards."""
    scheme, rows = _scheme_rows(summary)
    fig, axes, panels = _grid(rows)
    for ax, panel in zip(axes.flat, panels.values(), strict=True):
        plotted = []
        for (method, selection), curve in _curves(panel).items():
            ns = _column(curve, "n_transfer")
            mean = _column(curve, "rmsep_mean")
            lo, hi = _column(curve, "rmsep_lo"), _column(curve, "rmsep_hi")
            color = method_color(method)
            ax.plot(
                ns,
                mean,
                LINE_STYLES.get(selection, ":"),
                marker=MARKERS.get(selection, "^"),
                ms=3,
                color=color,
                label=_label(method, selection),
            )
            ax.fill_between(ns, lo, hi, color=color, alpha=0.15, lw=0)
            plotted += [mean, hi, lo[lo > 0]]
        for row in _references(panel):
            if _finite(row["rmsep_mean"]):
                ax.axhline(
                    row["rmsep_mean"],
                    color=method_color(row["method"]),
                    ls=REFERENCE_STYLE,
                    lw=1.2,
                    label=row["method"],
                )
                plotted.append(np.array([row["rmsep_mean"]]))
        values = np.concatenate(plotted) if plotted else np.array([])
        values = values[np.isfinite(values) & (values > 0)]
        if len(values):
            _plain_log(ax)
            ax.set_ylim(values.min() / 1.25, values.max() * 1.25)
        if _standards(panel):
            ax.set_xticks(_standards(panel))
    for ax in axes[:, 0]:
        ax.set_ylabel("RMSEP")
    fig.suptitle(f"{title} ({_scheme_words(scheme)})" if title else _scheme_words(scheme))
    _legend(fig, axes)
    return fig


def _scheme_words(scheme: str) -> str:
    if scheme == "repeated":
        return "repeated random splits, 95% corrected resampled t interval"
    return f"fixed {scheme} split"


def plot_rmsep_vs_n(summary: list[dict], path: str | Path, title: str = "") -> None:
    _save(figure_rmsep_vs_n(summary, title), path)


# ---- (b) ratio to the best classical method


def _dodge(index: int, count: int, width: float = 0.06) -> float:
    """Multiplicative x offset that spreads `count` series around each N."""
    return 1.0 + width * (index - (count - 1) / 2)


def figure_ratio_to_best(summary: list[dict], title: str = "") -> Figure:
    """Per N, each method's RMSEP relative to the cell's best classical method, with the paired
    bootstrap 95% interval; log y axis, line at 1."""
    scheme, rows = _scheme_rows(summary)
    fig, axes, panels = _grid(rows)
    for ax, panel in zip(axes.flat, panels.values(), strict=True):
        curves = _curves([r for r in panel if _finite(r["ratio_to_best"])])
        for index, ((method, selection), curve) in enumerate(curves.items()):
            ns = _column(curve, "n_transfer") * _dodge(index, len(curves))
            ratio = _column(curve, "ratio_to_best")
            lo, hi = _column(curve, "ratio_lo"), _column(curve, "ratio_hi")
            yerr = np.nan_to_num(np.vstack([ratio - lo, hi - ratio]), nan=0.0)
            ax.errorbar(
                ns,
                ratio,
                yerr=yerr,
                fmt=MARKERS.get(selection, "^"),
                ls=LINE_STYLES.get(selection, ":"),
                ms=3,
                lw=1,
                capsize=2,
                color=method_color(method),
                label=_label(method, selection),
            )
        ax.axhline(1.0, color="black", lw=0.8)
        _plain_log(ax, "x", ticks=_standards(panel) or None)
        _plain_log(ax)
    for ax in axes[:, 0]:
        ax.set_ylabel("RMSEP / best classical")
    words = _scheme_words(scheme).split(",")[0]
    fig.suptitle(f"{title} ({words}; paired bootstrap 95% interval)")
    _legend(fig, axes)
    return fig


def plot_ratio_to_best(summary: list[dict], path: str | Path, title: str = "") -> None:
    _save(figure_ratio_to_best(summary, title), path)


# ---- (c) coverage of the 90% CV+ interval


def figure_coverage(summary: list[dict], title: str = "") -> Figure:
    """Observed coverage of the 90% CV+ interval (picp90_mean, over the runs where
    the interval is finite) against N, per method; the nominal 0.90 as a black line."""
    scheme, rows = _scheme_rows(summary)
    fig, axes, panels = _grid(rows)
    for ax, panel in zip(axes.flat, panels.values(), strict=True):
        for (method, selection), curve in _curves(panel).items():
            ax.plot(
                _column(curve, "n_transfer"),
                _column(curve, "picp90_mean"),
                LINE_STYLES.get(selection, ":"),
                marker=MARKERS.get(selection, "^"),
                ms=3,
                color=method_color(method),
                label=_label(method, selection),
            )
        for row in _references(panel):
            if _finite(row["picp90_mean"]):
                ax.axhline(
                    row["picp90_mean"],
                    color=method_color(row["method"]),
                    ls=REFERENCE_STYLE,
                    lw=1.2,
                    label=row["method"],
                )
        ax.axhline(NOMINAL_COVERAGE, color="black", lw=1.0, label="nominal 0.90")
        ax.set_ylim(0.0, 1.02)
        if _standards(panel):
            ax.set_xticks(_standards(panel))
    for ax in axes[:, 0]:
        ax.set_ylabel("coverage of the 90% interval")
    words = _scheme_words(scheme).split(",")[0]
    fig.suptitle(f"{title} ({words})" if title else words)
    _legend(fig, axes)
    return fig


def plot_coverage(summary: list[dict], path: str | Path, title: str = "") -> None:
    _save(figure_coverage(summary, title), path)


# ---- (d) all benchmarks


def figure_benchmarks_summary(rows: list[dict], datasets: list[str] | None = None) -> Figure:
    """Rows of results.benchmarks_summary: per dataset (rows) and N (columns), each method's
    ratio to the best classical method in every (pair, property, selection) cell, with its
    interval; the repeated splits of a dataset when it has them, else its fixed split."""
    if not rows:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no cell holds two methods to compare", ha="center", va="center")
        return fig
    if datasets is None:
        datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    shown = []
    for dataset in datasets:
        mine = [r for r in rows if r["dataset"] == dataset]
        scheme = preferred_scheme(mine)
        shown += [r for r in mine if r["scheme"] == scheme]
    datasets = [d for d in datasets if any(r["dataset"] == d for r in shown)]
    ns = sorted({r["n_transfer"] for r in shown})
    fig, axes = plt.subplots(
        len(datasets),
        len(ns),
        figsize=(4.2 * len(ns), 3.2 * len(datasets)),
        squeeze=False,
        sharey=True,
    )
    for i, dataset in enumerate(datasets):
        for j, n in enumerate(ns):
            ax = axes[i, j]
            panel = [r for r in shown if r["dataset"] == dataset and r["n_transfer"] == n]
            methods = sorted({r["method"] for r in panel}, key=method_order)
            for x, method in enumerate(methods):
                points = [r for r in panel if r["method"] == method and _finite(r["ratio_to_best"])]
                points.sort(key=lambda r: (r["source"], r["target"], r["property"], r["selection"]))
                offsets = np.linspace(-0.15, 0.15, len(points)) if len(points) > 1 else [0.0]
                for offset, r in zip(offsets, points, strict=True):
                    ratio = float(r["ratio_to_best"])
                    lo = float(r["ratio_lo"]) if _finite(r["ratio_lo"]) else ratio
                    hi = float(r["ratio_hi"]) if _finite(r["ratio_hi"]) else ratio
                    ax.errorbar(
                        [x + offset],
                        [ratio],
                        yerr=[[ratio - lo], [hi - ratio]],
                        fmt=MARKERS.get(r["selection"], "^"),
                        ms=3,
                        lw=0.8,
                        color=method_color(method),
                    )
            ax.axhline(1.0, color="black", lw=0.8)
            _plain_log(ax)
            ax.set_xticks(range(len(methods)), methods, rotation=60, ha="right", fontsize=7)
            ax.set_title(f"{dataset}, N = {n}", fontsize=9)
            ax.grid(alpha=0.3, which="both", axis="y")
        axes[i, 0].set_ylabel("RMSEP / best classical")
    fig.suptitle(
        "Ratio to the best classical method per (pair, property) cell; "
        "circles: Kennard-Stone standards, squares: random"
    )
    fig.tight_layout()
    return fig


def plot_benchmarks_summary(
    rows: list[dict], path: str | Path, datasets: list[str] | None = None
) -> None:
    _save(figure_benchmarks_summary(rows, datasets), path)
