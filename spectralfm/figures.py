"""Figures of the results table: RMSEP against the number of transfer standards."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on clusters and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from spectralfm.atomic import atomic_path  # noqa: E402


def plot_rmsep_vs_n(rows: list[dict], path: str | Path, title: str = "") -> None:
    """One panel per (property, pair): mean RMSEP over seeds against N, one line per method and
    selection scheme, +-1 sd band; methods without standards (no transfer, target-full) as
    horizontal reference lines."""
    properties = sorted({r["property"] for r in rows})
    pairs = sorted({(r["source"], r["target"]) for r in rows})
    fig, axes = plt.subplots(
        len(properties),
        len(pairs),
        figsize=(4.2 * len(pairs), 3.2 * len(properties)),
        squeeze=False,
        sharex=True,
    )
    methods = sorted({r["method"] for r in rows})
    colors = {m: plt.cm.tab20(i % 20) for i, m in enumerate(methods)}
    for i, prop in enumerate(properties):
        for j, pair in enumerate(pairs):
            ax = axes[i, j]
            panel = [
                r for r in rows if r["property"] == prop and (r["source"], r["target"]) == pair
            ]
            curves: dict[tuple, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
            for r in panel:
                curves[(r["method"], r["selection"])][int(r["n_transfer"])].append(
                    float(r["rmsep"])
                )
            for (method, selection), by_n in sorted(curves.items()):
                if selection == "none":
                    level = np.mean([v for vs in by_n.values() for v in vs])
                    ax.axhline(level, color=colors[method], ls=":", lw=1.2, label=f"{method}")
                    continue
                ns = np.array(sorted(by_n))
                mean = np.array([np.mean(by_n[n]) for n in ns])
                sd = np.array([np.std(by_n[n]) for n in ns])
                style = "-" if selection == "kennard_stone" else "--"
                ax.plot(
                    ns,
                    mean,
                    style,
                    marker="o",
                    ms=3,
                    color=colors[method],
                    label=f"{method} ({selection})",
                )
                if selection != "kennard_stone":
                    ax.fill_between(ns, mean - sd, mean + sd, color=colors[method], alpha=0.15)
            ax.set_yscale("log")
            ax.set_title(f"{prop}: {pair[0]} -> {pair[1]}", fontsize=9)
            ax.grid(alpha=0.3, which="both")
            if j == 0:
                ax.set_ylabel("RMSEP")
            if i == len(properties) - 1:
                ax.set_xlabel("transfer standards N")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle(title)
    fig.tight_layout()
    # Legend right of the panels; bbox_inches="tight" grows the canvas to hold it.
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    with atomic_path(path) as tmp:
        fig.savefig(
            tmp, dpi=110, format=Path(path).suffix.lstrip(".") or "png", bbox_inches="tight"
        )
    plt.close(fig)
