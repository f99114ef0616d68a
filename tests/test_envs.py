"""Conda environments stay in step with pyproject, and every rule declares its env and log."""

import re
import tomllib

import rule_scripts
import yaml

from spectralfm import fingerprint

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


# ---- every rule's job against its own env (rule -> script -> env as Snakemake parses the rules)

# Third-party modules the library imports that no env must provide, with the reason.
OPTIONAL_IMPORTS = {
    "wandb": "only with pretrain.train.wandb: true; not a dependency (install it to use it)",
    "jsonschema": "spectralfm.catalog checks source settings while planning (Snakemake's env)",
}


def test_every_script_rule_has_an_env():
    rules = rule_scripts.script_rules()
    assert rules
    for rule in rules:
        assert rule.conda is not None and rule.conda.is_file(), f"rule {rule.name}: no conda env"


def test_every_job_imports_only_what_its_env_provides():
    """Each rule's script (its module-level imports) and every spectralfm module its job may run,
    imported in an interpreter that refuses every top-level module its conda env does not provide:
    envs/*.yaml checked against the code, without conda."""
    problems = []
    for name, probe in rule_scripts.job_imports().items():
        env = probe.rule.conda.relative_to(rule_scripts.REPO)
        problems += [
            f"rule {name} ({env}): {what}: {error}" for what, error in probe.failures.items()
        ]
    assert not problems, "\n".join(problems)


def test_imports_inside_functions_are_provided_by_the_env_too():
    """What the import probe cannot run: imports inside functions (a reader's `import jcamp`),
    read from the sources of every module a rule's job may run."""
    problems = []
    for rule in rule_scripts.script_rules():
        allowed = rule_scripts.env_modules(rule.conda)
        for module in rule.modules:
            path = fingerprint.source_file(module)
            for name in sorted(rule_scripts.top_level_imports(path) - allowed):
                if name not in OPTIONAL_IMPORTS:
                    problems.append(
                        f"rule {rule.name}: {module} imports {name}, which "
                        f"{rule.conda.relative_to(rule_scripts.REPO)} does not provide"
                    )
    assert not problems, "\n".join(problems)
