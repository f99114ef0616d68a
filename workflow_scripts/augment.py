from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.augment import augment_shard  # noqa: E402

sm = snakemake  # noqa: F821
settings = sm.params.augment
counts = augment_shard(
    sm.input[0],
    sm.output[0],
    copies=settings["copies"],
    noise_snr_db=settings["noise_snr_db"],
    baseline_drift=settings["baseline_drift"],
    shift_cm1=settings["shift_cm1"],
    scale_range=tuple(settings["scale_range"]),
    seed=settings["seed"],
)
log.info("%s/%s: %s", sm.wildcards.source, sm.wildcards.item, counts)
