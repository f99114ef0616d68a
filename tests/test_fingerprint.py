"""Code fingerprints derived from the import statements: what each rule's `code` param covers."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap

import pytest
import rule_scripts

from spectralfm import fingerprint

# Rules without a code fingerprint, and why (rules/download.smk says the same).
CHECKSUM_VERIFIED_RULES = {
    "download": "its output is checked against published checksums or recorded in a manifest",
    "extract": "its output is checked against a pinned sha256",
}


def _write(root, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture()
def toy(tmp_path, monkeypatch):
    """A small package named spectralfm, with one import of every form, and a script."""
    _write(
        tmp_path / "spectralfm",
        {
            "__init__.py": '"""toy"""\n__version__ = "0"\n',
            "errors.py": "class InputError(ValueError):\n    pass\n",
            "a/__init__.py": "from .helpers import helper\n",
            "a/helpers.py": "import numpy\n\ndef helper():\n    pass\n",
            "a/b.py": "from ..c import value\nfrom . import sub\n",
            "a/sub.py": "",
            "a/func_user.py": "from spectralfm.a import helper\n",  # a name, not a module
            "c.py": "value = 1\n\ndef later():\n    from spectralfm import lazy\n",
            "lazy.py": "import spectralfm.deep.leaf\n",
            "deep/__init__.py": "",
            "deep/leaf.py": "from spectralfm.errors import InputError\n",
            "unused.py": "",
        },
    )
    _write(
        tmp_path / "workflow_scripts",
        {
            "job.py": """
                from _setup import setup
                import json

                import spectralfm.a.b
                from spectralfm.a import func_user


                def main():
                    try:
                        from spectralfm import c
                    except ImportError:
                        pass
                """,
        },
    )
    monkeypatch.setattr(fingerprint, "PACKAGE_ROOT", tmp_path / "spectralfm")
    return tmp_path


def test_every_import_form_is_followed(toy):
    assert fingerprint.script_modules("workflow_scripts/job.py") == [
        "spectralfm",
        "spectralfm.a",
        "spectralfm.a.b",  # import spectralfm.a.b
        "spectralfm.a.func_user",  # from spectralfm.a import func_user: a submodule
        "spectralfm.a.helpers",  # a/__init__.py: from .helpers import helper
        "spectralfm.a.sub",  # a/b.py: from . import sub
        "spectralfm.c",  # a/b.py: from ..c import value; the script: inside a function
        "spectralfm.deep",  # lazy.py: import spectralfm.deep.leaf runs deep/__init__.py
        "spectralfm.deep.leaf",
        "spectralfm.errors",
        "spectralfm.lazy",  # c.py: imported inside a function
    ]
    value = fingerprint.script_fingerprint("workflow_scripts/job.py")
    assert set(fingerprint.parse_fingerprint(value)) == set(
        fingerprint.script_modules("workflow_scripts/job.py")
    ) - set(fingerprint.UNFINGERPRINTED)
    assert "spectralfm.unused" not in value
    # an extra module (imported by name at run time) comes with what it imports
    extra = fingerprint.script_modules("workflow_scripts/job.py", "spectralfm.unused")
    assert "spectralfm.unused" in extra


def test_a_fingerprint_changes_with_what_the_script_runs_only(toy):
    before = fingerprint.script_fingerprint("workflow_scripts/job.py")
    (toy / "spectralfm/unused.py").write_text("# edited\n")
    assert fingerprint.script_fingerprint("workflow_scripts/job.py") == before
    (toy / "spectralfm/deep/leaf.py").write_text("from spectralfm.errors import InputError\n#\n")
    after = fingerprint.script_fingerprint("workflow_scripts/job.py")
    assert fingerprint.changed_modules(before, after)[0].startswith("spectralfm.deep.leaf: ")
    assert len(fingerprint.changed_modules(before, after)) == 1
    # a new import is followed, and a new module named by it is found (its folder changed)
    (toy / "spectralfm/deep/new.py").write_text("")
    (toy / "spectralfm/lazy.py").write_text(
        "import spectralfm.deep.leaf\nimport spectralfm.deep.new\n"
    )
    assert "spectralfm.deep.new" in fingerprint.script_modules("workflow_scripts/job.py")


def test_unreadable_sources_are_errors_that_name_the_file(toy):
    (toy / "spectralfm/c.py").write_text("def broken(:\n")
    with pytest.raises(ValueError, match="c.py: cannot read its imports"):
        fingerprint.script_fingerprint("workflow_scripts/job.py")
    with pytest.raises(ValueError, match="no workflow script"):
        fingerprint.script_fingerprint("workflow_scripts/nope.py")
    with pytest.raises(ValueError, match="no source for module spectralfm.nope"):
        fingerprint.script_fingerprint("workflow_scripts/job.py", "spectralfm.nope")


# ---- the real workflow


def _direct_spectralfm_imports(script) -> set[str]:
    """The spectralfm modules a script names in its own import statements (read independently of
    spectralfm.fingerprint: the test compares the two)."""
    found = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "spectralfm" and fingerprint.source_file(name) is not None:
                found.add(name)
    return found


def test_every_rule_code_param_covers_what_its_script_imports():
    """Every rule with a script passes a derived code fingerprint that covers the spectralfm
    modules its script imports, directly and transitively."""
    problems = []
    for rule in rule_scripts.script_rules():
        if rule.name in CHECKSUM_VERIFIED_RULES:
            if rule.has_code:
                problems.append(f"rule {rule.name}: has a code param, but its bytes are verified")
            continue
        if not rule.code:
            problems.append(f"rule {rule.name}: no code param")
            continue
        direct = _direct_spectralfm_imports(rule.script) - set(fingerprint.UNFINGERPRINTED)
        transitive = set(fingerprint.script_modules(rule.script)) - set(fingerprint.UNFINGERPRINTED)
        for value in rule.code:
            try:
                covered = set(fingerprint.parse_fingerprint(value))
            except ValueError:
                problems.append(
                    f"rule {rule.name}: code={value!r} is not derived from its script; "
                    f"use script_code({rule.script.name!r}) (rules/common.smk)"
                )
                break
            for missing in sorted(direct - covered):
                problems.append(
                    f"rule {rule.name}: {rule.script.name} imports {missing}, not covered"
                )
            for missing in sorted(transitive - direct - covered):
                problems.append(
                    f"rule {rule.name}: runs {missing} (imported on the way), not covered"
                )
    assert not problems, "\n".join(problems)


@pytest.fixture()
def repo_copy(tmp_path, monkeypatch):
    """The library and the workflow scripts copied, so that tests can edit them."""
    for name in ("spectralfm", "workflow_scripts"):
        shutil.copytree(
            rule_scripts.REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    monkeypatch.setattr(fingerprint, "PACKAGE_ROOT", tmp_path / "spectralfm")
    return tmp_path


def _rule_fingerprints() -> dict[str, str]:
    """The fingerprints of the corpus, a classical transfer, a SpectralFM transfer and the table
    rules, as rules/*.smk compute them (script_code / method_fingerprint)."""
    return {
        "corpus": fingerprint.script_fingerprint("workflow_scripts/corpus.py"),
        "transfer": fingerprint.script_fingerprint(
            "workflow_scripts/transfer.py", "spectralfm.transfer.pds"
        ),
        "transfer_spectralfm": fingerprint.script_fingerprint(
            "workflow_scripts/transfer.py", "spectralfm.transfer.foundation"
        ),
        "table": fingerprint.script_fingerprint("workflow_scripts/table.py"),
    }


def _append_comment(root, module_file) -> None:
    path = root / module_file
    path.write_text(path.read_text() + "\n# an edit\n")


def _changed_rules(root, module_file) -> set[str]:
    before = _rule_fingerprints()
    _append_comment(root, module_file)
    after = _rule_fingerprints()
    return {rule for rule in before if before[rule] != after[rule]}


def test_a_datasets_edit_changes_the_corpus_and_transfer_fingerprints(repo_copy):
    # the corpus refuses benchmark spectra: it reads the benchmark files through datasets
    changed = _changed_rules(repo_copy, "spectralfm/datasets.py")
    assert {"corpus", "transfer", "transfer_spectralfm"} <= changed


def test_a_protocol_edit_changes_the_transfer_fingerprints_not_the_tables(repo_copy):
    """The table script imports spectralfm.results, which does not import the protocol (what the
    import statements say, checked here too): a protocol edit reruns the transfer jobs, and the
    table only because its inputs changed."""
    assert "spectralfm.transfer.protocol" not in fingerprint.script_modules(
        "workflow_scripts/table.py"
    )
    changed = _changed_rules(repo_copy, "spectralfm/transfer/protocol.py")
    assert changed == {"transfer", "transfer_spectralfm"}


def test_an_errors_edit_changes_no_fingerprint(repo_copy):
    assert "spectralfm.errors" in fingerprint.script_modules("workflow_scripts/table.py")
    assert _changed_rules(repo_copy, "spectralfm/errors.py") == set()


def test_a_method_module_edit_changes_only_that_methods_fingerprint(repo_copy):
    sbc = fingerprint.script_fingerprint("workflow_scripts/transfer.py", "spectralfm.transfer.sbc")
    changed = _changed_rules(repo_copy, "spectralfm/transfer/pds.py")
    assert changed == {"transfer"}
    assert (
        fingerprint.script_fingerprint("workflow_scripts/transfer.py", "spectralfm.transfer.sbc")
        == sbc
    )


def test_unfingerprinted_modules_stay_what_their_reason_says():
    """An excluded module may hold constants, docstrings and exception classes, nothing that
    runs: no function, no method, no import of the library."""
    for module, reason in fingerprint.UNFINGERPRINTED.items():
        assert reason
        tree = ast.parse(fingerprint.source_file(module).read_text())
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)), (
                f"{module} now defines code that runs: drop it from UNFINGERPRINTED"
            )
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                assert node.module == "__future__", (
                    f"{module} imports: drop it from UNFINGERPRINTED"
                )


# ---- telling a user which modules changed

DRY_RUN = """
[Tue Dec  1 21:36:16 2026]
rule transfer:
    input: resources/extracted/eigenvector/corn.mat
    output: results/transfer/corn/m5-to-mp5/pds.csv
    log: logs/transfer/corn/m5-to-mp5/pds.log
    jobid: 7
    reason: Params have changed since last execution: Union of exclusive params before and now \
across all output: before: 'spectralfm.datasets=0000aaaa spectralfm.transfer.pds=1111bbbb' \
now: 'spectralfm.datasets=0000aaaa spectralfm.transfer.pds=2222cccc spectralfm.transfer.ds=3333dddd' \

    wildcards: dataset=corn, pair=m5-to-mp5, method=pds
[Tue Dec  1 21:36:16 2026]
rule transfer:
    output: results/transfer/corn/m5-to-mp5/sbc.csv
    reason: Params have changed since last execution: Union of exclusive params before and now \
across all output: before: {'window': 5} now: {'window': 7}
[Tue Dec  1 21:36:16 2026]
rule table:
    output: results/tables/corn_transfer.csv
    reason: Input files updated by another job: results/transfer/corn/m5-to-mp5/pds.csv
"""


def test_changes_reads_the_modules_that_changed_from_a_dry_run():
    assert fingerprint.explain_dry_run(DRY_RUN.splitlines()) == [
        "transfer (results/transfer/corn/m5-to-mp5/pds.csv):",
        "    spectralfm.transfer.ds: added",
        "    spectralfm.transfer.pds: 1111bbbb -> 2222cccc",
    ]
    cli = subprocess.run(
        [sys.executable, "-m", "spectralfm.fingerprint", "changes"],
        input=DRY_RUN,
        capture_output=True,
        text=True,
        check=True,
        cwd=rule_scripts.REPO,
    )
    assert "spectralfm.transfer.pds: 1111bbbb -> 2222cccc" in cli.stdout


def test_the_command_lists_what_a_script_fingerprint_covers():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "spectralfm.fingerprint",
            "workflow_scripts/transfer.py",
            "spectralfm.transfer.pds",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=rule_scripts.REPO,
    ).stdout.split()
    assert any(line.startswith("spectralfm.transfer.pds=") for line in out)
    modules = [line.partition("=")[0] for line in out]
    assert modules == sorted(modules)
