"""Planning the workflow and the light jobs never import torch: seconds of start-up each, and a
multi-GB dependency their conda envs do not need. Only the jobs that run SpectralFM (model or
training code: pretrain, the SpectralFM transfer rows) may.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import rule_scripts


def _loads_torch(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=rule_scripts.REPO,
    ).stdout
    return [m for m in json.loads(out.strip().splitlines()[-1]) if m.split(".")[0] == "torch"]


def test_the_light_library_modules_do_not_import_torch():
    modules = "spectralfm.transfer, spectralfm.results, spectralfm.corpus"
    loaded = _loads_torch(f"import {modules}")
    if loaded:
        culprits = [m for m in modules.split(", ") if _loads_torch(f"import {m}")]
        pytest.fail(f"importing {', '.join(culprits)} imports torch")


def test_the_transfer_package_and_results_do_not_import_torch():
    assert _loads_torch("import spectralfm.transfer, spectralfm.results") == []


# Runs Snakemake as `python -m snakemake` does, and writes the top-level modules it imported.
RECORD_IMPORTS = """
import atexit, json, runpy, sys

def _record():
    with open({out!r}, "w") as f:
        json.dump(sorted({{m.split(".")[0] for m in sys.modules}}), f)

atexit.register(_record)
sys.argv = ["snakemake", *{args!r}]
runpy.run_module("snakemake", run_name="__main__")
"""


def test_planning_the_full_dag_never_imports_torch(tmp_path):
    shutil.copy(rule_scripts.REPO / "config.yaml", tmp_path / "config.yaml")
    out = tmp_path / "modules.json"
    args = ["-n", "--quiet", "rules", "--snakefile", str(rule_scripts.REPO / "Snakefile")]
    result = subprocess.run(
        [sys.executable, "-c", RECORD_IMPORTS.format(out=str(out), args=args)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "torch" not in json.loads(out.read_text())


def _light_rules():
    return [r for r in rule_scripts.script_rules() if not rule_scripts.runs_the_model(r)]


def test_light_jobs_never_import_torch():
    """Every rule whose job runs no model or training code (downloads, parsing, spectra,
    augmentation, the corpus, classical transfer, tables, figures), imported in its own env."""
    probes = rule_scripts.job_imports()
    light = [r.name for r in _light_rules()]
    assert {"parse", "spectra", "augment", "corpus", "transfer", "table"} <= set(light)
    loading = [name for name in light if "torch" in probes[name].loaded]
    assert not loading, f"light jobs importing torch: {loading}"


def test_envs_of_light_jobs_do_not_list_pytorch():
    heavy_envs = {r.conda for r in rule_scripts.script_rules() if rule_scripts.runs_the_model(r)}
    for env in {r.conda for r in _light_rules()} - heavy_envs:
        assert "torch" not in rule_scripts.env_packages(env), f"{env.name} lists pytorch"


def test_the_corpus_job_does_not_import_torch():
    rule = rule_scripts.workflow_rules()["corpus"]
    assert "torch" not in rule_scripts.job_imports()["corpus"].loaded
    assert "torch" not in rule_scripts.env_packages(rule.conda)
