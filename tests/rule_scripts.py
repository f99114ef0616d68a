"""Every rule of the workflow as Snakemake itself parses it (its script, conda env and `code`
param), and what each rule's job imports when only its conda env's packages are importable.

Shared by tests/test_fingerprint.py, tests/test_envs.py and tests/test_import_hygiene.py. Both
results are computed once per test session.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import yaml
from packaging.requirements import Requirement

from spectralfm import fingerprint

REPO = Path(__file__).resolve().parents[1]

# A wrapper that includes the real Snakefile, then writes what Snakemake made of every rule. A
# callable `code` param is evaluated for every method of the registry the rule's `method` wildcard
# admits and every corpus source (the wildcards the workflow's fingerprints depend on).
WRAPPER = """
include: {snakefile!r}

import json as _json
import re as _re
from pathlib import Path as _Path
from types import SimpleNamespace as _Wildcards

from spectralfm.catalog import CORPUS_SOURCES as _SOURCES
from spectralfm.transfer.registry import METHOD_CLASSES as _METHODS


def _describe(rule):
    base = _Path(str(rule.snakefile)).parent
    params = dict(rule.params._allitems())
    entry = {{
        "snakefile": str(rule.snakefile),
        "script": str((base / rule.script).resolve()) if rule.script else None,
        "conda": str((base / rule.conda_env).resolve()) if rule.conda_env else None,
        "has_code": "code" in params,
        "code": [],
    }}
    code = params.get("code")
    if callable(code):
        pattern = rule.wildcard_constraints.get("method", ".*")
        for method in _METHODS:
            if not _re.fullmatch(pattern, method):
                continue
            for source in _SOURCES:
                wildcards = _Wildcards(
                    method=method, source=source, dataset="corn", pair="m5-to-mp5", item="x"
                )
                entry["code"].append(code(wildcards))
    elif code is not None:
        entry["code"].append(code)
    entry["code"] = sorted(set(entry["code"]))
    return entry


_Path({out!r}).write_text(
    _json.dumps({{rule.name: _describe(rule) for rule in workflow.rules}}, indent=1)
)
"""


@dataclass(frozen=True)
class RuleInfo:
    name: str
    snakefile: Path
    script: Path | None
    conda: Path | None
    has_code: bool
    code: tuple[str, ...]  # the `code` param's values (one per wildcard set that changes it)

    @property
    def modules(self) -> list[str]:
        """Every spectralfm module the rule's job may run: its fingerprints' and its script's."""
        found = set(fingerprint.script_modules(self.script)) if self.script else set()
        for value in self.code:
            try:
                found |= set(fingerprint.parse_fingerprint(value))
            except ValueError:
                pass  # a hand-listed code_fingerprint(...): test_fingerprint.py reports it
        return sorted(found)


@cache
def workflow_rules() -> dict[str, RuleInfo]:
    """Rule name -> RuleInfo, for the default config, read from `snakemake --list-rules`."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(REPO / "config.yaml", work / "config.yaml")
        out = work / "rules.json"
        wrapper = work / "Snakefile"
        wrapper.write_text(WRAPPER.format(snakefile=str(REPO / "Snakefile"), out=str(out)))
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "--list-rules", "--snakefile", str(wrapper)],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0 or not out.is_file():
            raise AssertionError(f"could not parse the workflow:\n{result.stderr[-4000:]}")
        data = json.loads(out.read_text())
    return {
        name: RuleInfo(
            name=name,
            snakefile=Path(entry["snakefile"]),
            script=Path(entry["script"]) if entry["script"] else None,
            conda=Path(entry["conda"]) if entry["conda"] else None,
            has_code=entry["has_code"],
            code=tuple(entry["code"]),
        )
        for name, entry in data.items()
    }


def script_rules() -> list[RuleInfo]:
    return [rule for rule in workflow_rules().values() if rule.script is not None]


# ---- conda env -> importable top-level modules

# conda-forge package name -> the PyPI distribution installed here with the same code
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib", "pytorch": "torch"}
NOT_PACKAGES = {"python", "pip"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def env_packages(env: Path) -> list[str]:
    """Normalised distribution names an env file asks for (conda and pip sections)."""
    names = []
    for dep in yaml.safe_load(env.read_text())["dependencies"]:
        for entry in dep["pip"] if isinstance(dep, dict) else [dep]:
            name = _normalise(re.match(r"^([A-Za-z0-9_.\-]+)", entry).group(1))
            if name not in NOT_PACKAGES:
                names.append(_normalise(CONDA_TO_PYPI.get(name, name)))
    return names


@cache
def _import_names() -> dict[str, set[str]]:
    """Normalised distribution name -> the top-level modules it installs (from its metadata)."""
    out: dict[str, set[str]] = {}
    for module, dists in metadata.packages_distributions().items():
        for dist in dists:
            out.setdefault(_normalise(dist), set()).add(module)
    return out


def _requirements(dist: str) -> list[str]:
    """Distributions `dist` depends on (no extras; markers evaluated for this platform)."""
    out = []
    for text in metadata.requires(dist) or []:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            out.append(_normalise(req.name))
    return out


@cache
def env_modules(env: Path) -> frozenset[str]:
    """Top-level modules a job in `env` can import: those of the env's packages and of what they
    depend on (as the conda solver installs them), the standard library, the spectralfm package
    and the workflow scripts beside each other (`_setup`)."""
    names = _import_names()
    allowed = set(sys.stdlib_module_names) | {"spectralfm"}
    allowed |= {p.stem for p in (REPO / "workflow_scripts").glob("*.py")}
    pending, seen = env_packages(env), set()
    while pending:
        dist = pending.pop()
        if dist in seen:
            continue
        seen.add(dist)
        try:
            pending += _requirements(dist)
        except metadata.PackageNotFoundError:
            raise AssertionError(
                f"{env.name}: {dist} is not installed here; install the project (pip install -e .)"
            ) from None
        allowed |= names.get(dist, set())
    return frozenset(allowed)


# ---- the imports of one rule's job, in a subprocess that sees only the rule's env

# Runs in the subprocess: refuse every top-level module the env does not provide, execute the
# script's module-level imports (those in a branch only run for another rule: transfer.py imports
# torch for the SpectralFM rule only), then import every spectralfm module the job may run.
PROBE = r"""
import ast, importlib, importlib.abc, importlib.machinery, json, os, sys, sysconfig

args = json.loads(sys.stdin.read())
allowed = set(args["allowed"])
# private standard-library modules sys.stdlib_module_names leaves out (_sysconfigdata_*)
paths = sysconfig.get_paths()
stdlib = [paths["stdlib"], paths["platstdlib"], os.path.join(paths["platstdlib"], "lib-dynload")]


class EnvOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in allowed:
            return None
        if importlib.machinery.PathFinder.find_spec(top, stdlib) is not None:
            allowed.add(top)
            return None
        raise ModuleNotFoundError(
            f"No module named {top!r} in {args['env']} (imported as {fullname})", name=fullname
        )


sys.path[:0] = [args["scripts_dir"], args["repo"]]
sys.meta_path.insert(0, EnvOnly())
failures = {}
tree = ast.parse(open(args["script"]).read())
top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
try:
    exec(compile(ast.Module(body=top, type_ignores=[]), args["script"], "exec"), {})
except Exception as exc:
    failures[args["script"]] = f"{type(exc).__name__}: {exc}"
for module in args["modules"]:
    try:
        importlib.import_module(module)
    except Exception as exc:
        failures[module] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"failures": failures, "loaded": sorted({m.partition(".")[0] for m in sys.modules})}))
"""


@dataclass(frozen=True)
class JobImports:
    rule: RuleInfo
    failures: dict[str, str]  # module (or script) -> the error importing it
    loaded: frozenset[str]  # top-level modules in sys.modules afterwards


def _probe(rule: RuleInfo) -> JobImports:
    args = {
        "allowed": sorted(env_modules(rule.conda)),
        "env": str(rule.conda.relative_to(REPO)),
        "script": str(rule.script),
        "scripts_dir": str(rule.script.parent),
        "repo": str(REPO),
        "modules": rule.modules,
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise AssertionError(f"rule {rule.name}: import probe crashed:\n{result.stderr[-4000:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return JobImports(rule, data["failures"], frozenset(data["loaded"]))


@cache
def job_imports() -> dict[str, JobImports]:
    """Rule name -> what its job imports in an interpreter limited to its conda env."""
    rules = [rule for rule in script_rules() if rule.conda is not None]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return {probe.rule.name: probe for probe in pool.map(_probe, rules)}


def runs_the_model(rule: RuleInfo) -> bool:
    """A rule whose job runs SpectralFM (model or training code); the others are light jobs."""
    return any(m.startswith(("spectralfm.models", "spectralfm.training")) for m in rule.modules)


def top_level_imports(path: Path) -> set[str]:
    """Top-level names of every import statement in a file, wherever it stands (direct ones)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.partition(".")[0])
    return names
