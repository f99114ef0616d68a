"""Run the real workflow in a scratch working directory with a small config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def write_config(workdir: Path, overrides: dict) -> Path:
    """config.yaml of the repo, deep-updated with `overrides`, written into workdir."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())

    def update(base: dict, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                update(base[key], value)
            else:
                base[key] = value

    update(config, overrides)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(
    workdir: Path,
    *args: str,
    mirror: Path | str | None = None,
    timeout: float = 900,
    check: bool = True,
    profile: str | None = None,
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SPECTRALFM_MIRROR"}
    if mirror is not None:
        env["SPECTRALFM_MIRROR"] = str(mirror)
    cmd = [
        *SNAKEMAKE,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        *(["--profile", profile] if profile else []),
        *args,
    ]
    result = subprocess.run(
        cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


def mirror_with(tmp: Path, files: dict[str, Path]) -> Path:
    """A folder mirror holding the given files at <source>/<name> (symlinks to the shared data)."""
    root = tmp / "mirror"
    for rel, target in files.items():
        link = root / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    return root
