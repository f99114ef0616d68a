import os
import sys
from types import SimpleNamespace
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

# The library lives beside this workflow; DAG planning uses it without installing it. The root is
# found from this file, so a Snakefile elsewhere that includes this workflow plans with it too.
WORKFLOW_ROOT = Path(str(workflow.current_basedir)).parent
sys.path.insert(0, str(WORKFLOW_ROOT))
from spectralfm.catalog import (  # noqa: E402
    BENCHMARKS,
    benchmark_path,
    corpus_source,
    raw_file,
    source_items,
    source_raw_file,
)
from spectralfm.download import MIRROR_ENV  # noqa: E402
from spectralfm.fingerprint import code_fingerprint, script_fingerprint  # noqa: E402
from spectralfm.errors import InputError  # noqa: E402
from spectralfm.preprocessing_spec import parse_spec  # noqa: E402
from spectralfm.transfer.axes import check_ranges  # noqa: E402
from spectralfm.transfer.registry import (
    check_method_params,
    method_module,
)  # noqa: E402

validate(config, schema="../schemas/config.schema.yaml")

# Where bytes come from never changes them (checksums are verified), so the mirror is handed to jobs
# through the environment, not as a param: switching mirrors reruns nothing. config data.mirror wins
# over SPECTRALFM_MIRROR. Local jobs inherit this process's environment; `envvars:` also passes it to
# executors that do not. It is declared only when set: `envvars:` stops the run on an unset variable.
if config["data"].get("mirror"):
    mirror = str(config["data"]["mirror"])
    if "://" not in mirror:
        mirror = str(Path(mirror).resolve())
    os.environ[MIRROR_ENV] = mirror
if os.environ.get(MIRROR_ENV):

    envvars:
        MIRROR_ENV,


def parse_pair(dataset, pair):
    """'m5->mp5' -> ('m5', 'mp5'), checked against the dataset's instruments."""
    source, sep, target = pair.partition("->")
    known = BENCHMARKS[dataset].instruments
    if not sep or source not in known or target not in known or source == target:
        raise ValueError(
            f"config transfer.{dataset}.pairs: {pair!r} is not 'source->target' with two "
            f"different instruments of {dataset} ({', '.join(known)})"
        )
    return source, target


def pair_slug(dataset, pair):
    return "{}-to-{}".format(*parse_pair(dataset, pair))


def slug_pair(slug):
    source, _, target = slug.partition("-to-")
    return source, target


for _dataset, _settings in config["transfer"].items():
    for _pair in _settings["pairs"]:
        parse_pair(_dataset, _pair)


def transfer_parts(dataset):
    settings = config["transfer"][dataset]
    return [
        f"results/transfer/{dataset}/{pair_slug(dataset, pair)}/{method}.csv"
        for pair in settings["pairs"]
        for method in settings["methods"]
    ]


def benchmark_inputs(wildcards):
    """The files a dataset is read from: corn.mat; the tablet CSV export or Eigenvector's .mat."""
    fmt = config["benchmarks"][wildcards.dataset]["format"]
    return [benchmark_path(f) for f in BENCHMARKS[wildcards.dataset].files[fmt]]


def extracted_member(source, member):
    """The catalog entry of an archive member the workflow extracts."""
    for bench in BENCHMARKS.values():
        for files in bench.files.values():
            for f in files:
                if f.member == member and f.raw.source == source:
                    return f
    raise ValueError(f"no catalog entry extracts {source}/{member}")


def all_targets():
    """Everything rules/report.smk marks for the report (so that `snakemake --report` works after
    the default target), for every dataset of config["transfer"]."""
    targets = []
    for dataset in config["transfer"]:
        targets += [
            f"results/tables/{dataset}_transfer.csv",
            f"results/tables/{dataset}_transfer_summary.csv",
            f"results/tables/{dataset}_headline.rst",
            f"results/tables/{dataset}_headline.html",
            f"results/figures/{dataset}_rmsep_vs_n.png",
            f"results/figures/{dataset}_ratio_to_best.png",
            f"results/figures/{dataset}_coverage.png",
        ]
    if config["transfer"]:
        targets += [
            "results/tables/benchmarks_summary.csv",
            "results/figures/benchmarks_summary.png",
        ]
    return targets


# ---- corpus


def corpus_shards():
    """(source, item) of every shard the configured corpus is built from."""
    return [
        (source, item)
        for source in config["corpus"]["sources"]
        for item in source_items(source, config["sources"][source])
    ]


def parse_input(wildcards):
    if wildcards.source == "local":
        return config["sources"]["local"]["paths"][wildcards.item]["path"]
    raw = source_raw_file(wildcards.source, wildcards.item)
    return f"resources/raw/{raw.source}/{raw.name}"


def parse_options(wildcards):
    """Reader options of one shard: the source's settings minus the file lists."""
    settings = config["sources"][wildcards.source]
    if wildcards.source == "local":
        entry = dict(settings["paths"][wildcards.item])
        entry.pop("path")
        return entry
    return dict(settings.get("options") or {})


def exclusion_inputs(wildcards):
    """Benchmark files whose spectra the corpus must never contain (leakage check)."""
    return {
        name: benchmark_inputs(SimpleNamespace(dataset=name))
        for name in config["corpus"]["exclude_benchmarks"]
    }


# ---- code fingerprints (spectralfm/fingerprint.py): the spectralfm modules a rule's script runs,
# derived from the import statements. The `code` param of every rule; Snakemake reruns on a change.
SCRIPTS = WORKFLOW_ROOT / "workflow_scripts"


def script_code(script_name):
    """The code fingerprint of a rule whose script's imports are all it runs ('table.py')."""
    return script_fingerprint(SCRIPTS / script_name)


def method_fingerprint(wildcards):
    """The transfer script's modules and the method's own module (imported by name at run time,
    so not seen in the script), each with what it imports."""
    return script_fingerprint(SCRIPTS / "transfer.py", method_module(wildcards.method))


# ---- transfer


def protocol_value(key, default=None):
    """A param function: transfer.<dataset>.<key> of the job's dataset (a plain value)."""
    return lambda wildcards: config["transfer"][wildcards.dataset].get(key, default)


def shared_settings():
    """`method_defaults`: the settings every method shares."""
    return config.get("method_defaults") or {}


def own_settings(name):
    """Method `name`'s own `methods.<name>` entry."""
    return config["methods"].get(name) or {}


def method_settings(name):
    """Method `name`'s settings: the shared ones, then its own entry, which wins."""
    return {**shared_settings(), **own_settings(name)}


def method_params(wildcards):
    return method_settings(wildcards.method)


def check_transfer_config():
    """Everything about the protocol that is knowable before a job runs, each error naming its
    config key: properties, methods and their parameters, preprocessing specs, the overlap of
    each pair's wavelength ranges."""
    for dataset, settings in config["transfer"].items():
        bench = BENCHMARKS[dataset]
        unknown = [
            p
            for p in settings["properties"]
            if p.strip().lower() not in bench.properties
        ]
        if unknown:
            raise InputError(
                f"config transfer.{dataset}.properties: unknown {', '.join(map(repr, unknown))}; "
                f"{dataset} has {', '.join(bench.properties)}"
            )
        for name in settings["methods"]:
            try:
                method_module(name)
            except InputError as err:
                raise InputError(f"config transfer.{dataset}.methods: {err}") from None
        for pair in settings["pairs"]:
            source, target = parse_pair(dataset, pair)
            check_ranges(
                bench.ranges_nm[source],
                bench.ranges_nm[target],
                pair_label=f"config transfer.{dataset}.pairs: {pair}",
            )
            width = min(bench.channels[source], bench.channels[target])
            for name in settings["methods"]:
                spec = method_settings(name).get("preprocessing", "auto")
                if spec != "auto":
                    own = "preprocessing" in own_settings(name)
                    key = f"methods.{name}" if own else "method_defaults"
                    parse_spec(spec, f"config {key}.preprocessing", n_features=width)
    # a shared setting must be a parameter of every method in a table
    listed = {
        name for settings in config["transfer"].values() for name in settings["methods"]
    }
    for name in sorted(listed):
        check_method_params(
            name, shared_settings(), key=f"config method_defaults (for {name})"
        )
    for name in config["methods"]:
        check_method_params(name, own_settings(name), key=f"config methods.{name}")


check_transfer_config()
