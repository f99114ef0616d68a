"""Conda environments stay in step with pyproject, and every rule declares its env and log."""

import re
import tomllib

import yaml

# conda-forge names of PyPI packages
CONDA_NAMES = {"matplotlib-base": "matplotlib", "pytorch": "torch", "pot": "pot"}


def _normalise(name: str) -> str:
    return CONDA_NAMES.get(name.lower(), name.lower()).replace("_", "-")


def _pyproject_specs(repo) -> dict[str, str]:
    deps = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    specs = {}
    for dep in deps:
        name, spec = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", dep).groups()
        specs[_normalise(name)] = spec.replace(" ", "")
    return specs


def _env_specs(path) -> dict[str, str]:
    specs = {}
    for dep in yaml.safe_load(path.read_text())["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            name, spec = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", entry).groups()
            specs[_normalise(name)] = spec.replace(" ", "")
    return specs


def test_env_specifiers_match_pyproject(repo):
    wanted = _pyproject_specs(repo)
    envs = sorted((repo / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        for name, spec in _env_specs(env).items():
            if name in ("python", "pip"):
                continue
            assert name in wanted, f"{env.name}: {name} is not a dependency in pyproject.toml"
            assert spec == wanted[name], (
                f"{env.name}: {name} {spec!r} != pyproject {wanted[name]!r}"
            )


def test_every_rule_has_conda_env_and_log(repo):
    for smk in sorted((repo / "rules").glob("*.smk")):
        text = smk.read_text()
        rules = re.split(r"^rule ", text, flags=re.M)[1:]
        for body in rules:
            name = body.split(":", 1)[0]
            assert "\n    conda:" in body, f"{smk.name}: rule {name} has no conda env"
            assert "\n    log:" in body, f"{smk.name}: rule {name} has no log"
            env = re.search(r"conda:\s*\n\s*\"\.\./(envs/[^\"]+)\"", body)
            assert env and (repo / env.group(1)).is_file(), f"rule {name}: env file missing"
