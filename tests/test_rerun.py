"""Rerun only what a change invalidated, read from `snakemake -n` on a finished quick run.

The workflow and library are copied into a scratch folder so the tests can edit config and code.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from workflow_helpers import REPO

pytestmark = pytest.mark.workflow

COPIED = [
    "Snakefile",
    "config.yaml",
    "rules",
    "workflow_scripts",
    "spectralfm",
    "schemas",
    "envs",
    "report",
    "profiles",
]


def _run(workdir, *args, mirror, check=True, timeout=1500):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "profiles/quick", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**__import__("os").environ, "SPECTRALFM_MIRROR": str(mirror)},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def planned_jobs(workdir, mirror) -> dict[str, int]:
    """Rule -> job count that a dry run plans for the main target."""
    out = _run(workdir, "-n", "results/tables/corn_transfer.csv", mirror=mirror)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M))
    counts.pop("total", None)
    return {rule: int(n) for rule, n in counts.items()}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, shared_data):
    workdir = tmp_path_factory.mktemp("quick")
    for name in COPIED:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(
            src,
            workdir / name,
            **({"ignore": shutil.ignore_patterns("__pycache__")} if src.is_dir() else {}),
        )
    overrides = workdir / "profiles/quick/overrides.yaml"
    text = overrides.read_text().replace("../shared/data", str(shared_data))
    overrides.write_text(text)
    _run(workdir, "results/tables/corn_transfer.csv", mirror=shared_data / "mirror")
    return workdir, shared_data / "mirror"


def _edit_yaml(path, edit):
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _restore(workdir, name):
    src = REPO / name
    if src.is_dir():
        shutil.rmtree(workdir / name)
        shutil.copytree(src, workdir / name, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(src, workdir / name)


def test_quick_run_has_spectralfm_rows(quick_run):
    workdir, _ = quick_run
    table = (workdir / "results/tables/corn_transfer.csv").read_text()
    for method in ("spectralfm", "spectralfm_scratch", "spectralfm_ttt", "spectralfm_embed", "pds"):
        assert f",{method}," in table
    assert (workdir / "results/pretrain/model.safetensors").is_file()
    stats = json.loads((workdir / "results/corpus/stats.json").read_text())
    rows = {m: sum(split.values()) for m, split in stats["rows_by_modality"].items()}
    assert rows["nir"] >= 0.1 * sum(rows.values())  # the quick corpus holds NIR
    metrics = (workdir / "results/pretrain/metrics.jsonl").read_text().splitlines()
    logged = json.loads(metrics[0])
    for term in ("recon", "translation", "invariance", "instrument", "ot", "snv"):
        assert term in logged, term  # every loss term is logged, none skipped


def test_nothing_to_do_when_nothing_changed(quick_run):
    workdir, mirror = quick_run
    assert planned_jobs(workdir, mirror) == {}


def test_pds_window_change_plans_only_pds_and_table(quick_run):
    workdir, mirror = quick_run
    overrides = workdir / "profiles/quick/overrides.yaml"
    backup = overrides.read_text()
    _edit_yaml(overrides, lambda c: c.setdefault("methods", {}).update({"pds": {"window": 7}}))
    try:
        jobs = planned_jobs(workdir, mirror)
    finally:
        overrides.write_text(backup)
    assert jobs == {"transfer": 2, "table": 1}  # two pairs


def test_translator_setting_change_plans_only_spectralfm_transfer_and_table(quick_run):
    workdir, mirror = quick_run
    overrides = workdir / "profiles/quick/overrides.yaml"
    backup = overrides.read_text()
    _edit_yaml(
        overrides, lambda c: c.setdefault("methods", {}).update({"spectralfm": {"ridge": 1.0}})
    )
    try:
        jobs = planned_jobs(workdir, mirror)
    finally:
        overrides.write_text(backup)
    assert jobs == {"transfer_spectralfm": 2, "table": 1}


def test_shared_method_setting_plans_every_transfer_job_and_table(quick_run):
    workdir, mirror = quick_run
    overrides = workdir / "profiles/quick/overrides.yaml"
    backup = overrides.read_text()
    _edit_yaml(overrides, lambda c: c.update({"method_defaults": {"cv": 3}}))
    try:
        jobs = planned_jobs(workdir, mirror)
    finally:
        overrides.write_text(backup)
    # two pairs x (8 classical methods, 4 SpectralFM methods)
    assert jobs == {"transfer": 16, "transfer_spectralfm": 8, "table": 1}


def test_augmentation_change_plans_augment_corpus_pretrain_spectralfm(quick_run):
    workdir, mirror = quick_run
    overrides = workdir / "profiles/quick/overrides.yaml"
    backup = overrides.read_text()
    _edit_yaml(overrides, lambda c: c["augment"].update({"noise_snr_db": 30.0}))
    try:
        jobs = planned_jobs(workdir, mirror)
    finally:
        overrides.write_text(backup)
    # 14 shards (rruff archive, local dough, 12 nirdata sets); four SpectralFM methods x two pairs
    assert jobs == {"augment": 14, "corpus": 1, "pretrain": 1, "transfer_spectralfm": 8, "table": 1}


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        # a transfer method: its jobs and the table only
        ("spectralfm/transfer/pds.py", {"transfer": 2, "table": 1}),
        # resampling code: spectra and everything after, no download or parse
        (
            "spectralfm/preprocess.py",
            {
                "spectra": 14,
                "augment": 14,
                "corpus": 1,
                "pretrain": 1,
                "transfer_spectralfm": 8,
                "table": 1,
            },
        ),
        # the model: pretraining and the SpectralFM transfer jobs, not the corpus
        ("spectralfm/models/ssm.py", {"pretrain": 1, "transfer_spectralfm": 8, "table": 1}),
    ],
)
def test_library_edit_plans_what_its_fingerprint_says(quick_run, module, expected):
    workdir, mirror = quick_run
    path = workdir / module
    path.write_text(path.read_text() + "\n# an edit\n")
    try:
        jobs = planned_jobs(workdir, mirror)
    finally:
        _restore(workdir, module)
    assert jobs == expected
