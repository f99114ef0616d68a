import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from spectralfm.errors import InputError
from spectralfm.preprocessing import (
    MSC,
    SNV,
    Detrend,
    NoPreprocessing,
    SavitzkyGolay,
    canonical_preprocessing,
    parse_preprocessing,
)


def spectra(n=12, p=100, seed=0):
    """Smooth positive NIR-like rows: two bands of varying height on a baseline."""
    rng = np.random.default_rng(seed)
    axis = np.linspace(0, 1, p)
    bands = np.stack([np.exp(-((axis - c) ** 2) / 0.01) for c in (0.3, 0.7)])
    return 0.5 + rng.uniform(0.2, 1.0, size=(n, 2)) @ bands


def test_no_preprocessing_is_a_copy():
    X = spectra()
    out = NoPreprocessing().fit_transform(X)
    np.testing.assert_array_equal(out, X)
    assert out is not X


def test_snv_rows_have_mean_0_and_sd_1():
    X = spectra() * np.arange(1, 13)[:, None] + 3.0
    out = SNV().fit_transform(X)
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=1, ddof=0), 1.0, rtol=1e-12)


def test_snv_refuses_a_flat_spectrum():
    X = spectra()
    X[4] = 2.0
    with pytest.raises(InputError, match="SNV: row 4 is constant"):
        SNV().fit_transform(X)


def test_msc_of_scaled_and_shifted_copies_is_the_reference():
    X = spectra()
    model = MSC().fit(X)
    ref = model.reference_
    copies = np.stack([a * ref + b for a, b in [(1.0, 0.0), (0.5, 0.2), (3.0, -1.0), (1.7, 4.0)]])
    np.testing.assert_allclose(model.transform(copies), np.tile(ref, (4, 1)), rtol=1e-12)


def test_msc_reference_comes_only_from_the_fit_rows():
    X = spectra()
    model = MSC().fit(X[:6])
    np.testing.assert_array_equal(model.reference_, X[:6].mean(axis=0))
    before = model.reference_.copy()
    model.transform(X[6:] * 2.0 + 1.0)
    np.testing.assert_array_equal(model.reference_, before)
    # fit_transform is fit then transform on the same rows
    np.testing.assert_allclose(MSC().fit_transform(X), MSC().fit(X).transform(X))


def test_msc_refuses_a_flat_reference():
    with pytest.raises(InputError, match="flat"):
        MSC().fit(np.ones((3, 10)))


def quadratic(p=101):
    i = np.arange(p, dtype=float)
    # rows: y = c0 + c1 i + c2 i^2 with different coefficients
    coefs = np.array([[1.0, 0.5, 0.01], [-2.0, -0.1, 0.003], [0.0, 2.0, -0.02]])
    return i, coefs, coefs[:, :1] + coefs[:, 1:2] * i + coefs[:, 2:] * i**2


def test_sg1_of_a_quadratic_is_its_derivative():
    i, c, X = quadratic()
    out = SavitzkyGolay(window=11, polyorder=2, deriv=1).fit_transform(X)
    # a degree-2 fit reproduces a quadratic exactly; derivative per channel
    np.testing.assert_allclose(out[:, 5:-5], (c[:, 1:2] + 2 * c[:, 2:] * i)[:, 5:-5], atol=1e-9)


def test_sg2_of_a_quadratic_is_constant():
    _, c, X = quadratic()
    out = SavitzkyGolay(window=15, polyorder=2, deriv=2).fit_transform(X)
    np.testing.assert_allclose(out, np.repeat(2 * c[:, 2:], X.shape[1], axis=1), atol=1e-10)


def test_sg0_keeps_a_quadratic():
    _, _, X = quadratic()
    np.testing.assert_allclose(SavitzkyGolay(deriv=0).fit_transform(X), X, atol=1e-9)


@pytest.mark.parametrize("order", [1, 2])
def test_detrend_removes_a_polynomial_baseline(order):
    X = spectra()
    i = np.arange(X.shape[1], dtype=float)
    baseline = 0.3 + 0.01 * i + (2e-4 * i**2 if order == 2 else 0.0)
    detrended = Detrend(order=order).fit_transform(X)
    with_baseline = Detrend(order=order).fit_transform(X + baseline * np.arange(1, 13)[:, None])
    np.testing.assert_allclose(with_baseline, detrended, atol=1e-10)
    # and the result has no trend of that order left
    fit = np.polynomial.polynomial.polyfit(i, detrended.T, order)
    np.testing.assert_allclose(fit, 0.0, atol=1e-10)


def test_detrend_order_1_leaves_a_quadratic_bend():
    _, _, X = quadratic()
    assert np.abs(Detrend(order=1).fit_transform(X)).max() > 1.0


def test_transform_refuses_a_spectrum_shorter_than_the_window():
    with pytest.raises(InputError, match="window=15 is longer than the spectrum"):
        SavitzkyGolay().fit(np.ones((3, 10)))
    model = SavitzkyGolay(window=5).fit(spectra(p=20))
    with pytest.raises(InputError, match="expecting 20 features"):
        model.transform(spectra(p=4))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"window": 14}, "must be odd"),
        ({"window": 3, "polyorder": 3}, "larger than polyorder"),
        ({"polyorder": 1, "deriv": 2}, "deriv=2 is larger than polyorder=1"),
        ({"window": 5.0}, "must be ints"),
    ],
)
def test_savitzky_golay_bad_params(params, message):
    with pytest.raises(InputError, match=message):
        SavitzkyGolay(**params).fit(spectra())


def test_a_chain_applies_its_steps_in_order():
    X = spectra() + np.linspace(0, 1, 100)
    pipe = parse_preprocessing("detrend+snv+sg1(11,2)")
    assert isinstance(pipe, Pipeline)
    assert [type(step) for _, step in pipe.steps] == [Detrend, SNV, SavitzkyGolay]
    by_hand = SavitzkyGolay(window=11).fit_transform(
        SNV().fit_transform(Detrend().fit_transform(X))
    )
    np.testing.assert_allclose(pipe.fit_transform(X), by_hand)
    # order matters: SNV after the derivative is not the same thing
    other = parse_preprocessing("detrend+sg1(11,2)+snv").fit_transform(X)
    assert not np.allclose(other, by_hand)


def test_parse_builds_the_settings_of_each_step():
    pipe = parse_preprocessing("msc+sg2(21,3)+detrend(2)+snv+snv")
    _, sg = pipe.steps[1]
    assert (sg.window, sg.polyorder, sg.deriv) == (21, 3, 2)
    assert pipe.steps[2][1].order == 2
    assert [name for name, _ in pipe.steps] == ["msc", "sg2", "detrend", "snv", "snv_2"]
    assert type(parse_preprocessing("sg0").steps[0][1]) is SavitzkyGolay
    assert parse_preprocessing("sg0").steps[0][1].deriv == 0


def test_none_is_an_identity_pipeline():
    pipe = parse_preprocessing("none")
    X = spectra()
    np.testing.assert_array_equal(pipe.fit_transform(X), X)
    assert [type(s) for _, s in parse_preprocessing("none+snv").steps] == [SNV]


@pytest.mark.parametrize(
    ("spec", "canonical"),
    [
        ("none", "none"),
        ("none+none", "none"),
        ("none+snv", "snv"),
        ("SNV + none", "snv"),
        ("msc", "msc"),
        ("sg1", "sg1(15,2)"),
        ("sg0", "sg0(15,2)"),
        ("sg2(11,3)", "sg2(11,3)"),
        ("detrend", "detrend(1)"),
        ("detrend(2)+sg1( 9 , 2 )", "detrend(2)+sg1(9,2)"),
        ("snv+sg1", "snv+sg1(15,2)"),
    ],
)
def test_canonical_forms(spec, canonical):
    assert canonical_preprocessing(spec) == canonical
    assert canonical_preprocessing(canonical) == canonical  # idempotent


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("foo", "unknown step 'foo'"),
        ("snv+sg3", "unknown step 'sg3'"),
        ("", "empty step"),
        ("snv++msc", "empty step"),
        ("snv+", "empty step"),
        ("sg1(15,2", "bad parentheses"),
        ("sg1)15,2(", "bad parentheses"),
        ("sg1((15,2))", "bad parentheses"),
        ("sg1(15,2)x", "bad parentheses"),
        ("sg1(15,a)", "non-integer argument 'a'"),
        ("sg1(15.0,2)", "non-integer argument '15.0'"),
        ("sg1()", "non-integer argument ''"),
        ("sg1(15)", "takes two arguments"),
        ("sg1(15,2,1)", "takes two arguments"),
        ("snv(1)", "takes no arguments"),
        ("detrend(1,2)", "takes one argument"),
        ("detrend(-1)", "order must be >= 0"),
        ("sg1(14,2)", "must be odd"),
        ("sg1(3,3)", "larger than polyorder"),
        ("sg2(15,1)", "deriv=2 is larger than polyorder=1"),
        ("msc+sg1(3,1)+sg2(5,1)", "deriv=2 is larger than polyorder=1"),
        (3, "expected a string"),
    ],
)
def test_bad_specs_name_the_key(spec, message):
    for check in (parse_preprocessing, canonical_preprocessing):
        with pytest.raises(InputError, match=message) as err:
            check(spec, key="methods.pds.preprocessing")
        assert str(err.value).startswith("methods.pds.preprocessing: ")


def test_window_longer_than_the_spectrum_with_n_features():
    with pytest.raises(InputError, match=r"preprocessing: sg1\(15,2\) window 15 is longer"):
        parse_preprocessing("snv+sg1", n_features=10)
    with pytest.raises(InputError, match="needs more than 3 wavelengths"):
        parse_preprocessing("detrend(3)", n_features=3)
    assert len(parse_preprocessing("sg1", n_features=15).steps) == 1
    # without n_features the pipeline builds, and transform refuses the short spectra
    with pytest.raises(InputError, match="window=15 is longer than the spectrum"):
        parse_preprocessing("sg1").fit_transform(np.ones((2, 10)))


def test_transformers_clone_and_expose_params():
    model = SavitzkyGolay(window=7, polyorder=3, deriv=2)
    assert clone(model).get_params() == {"window": 7, "polyorder": 3, "deriv": 2}
    assert Detrend(order=3).get_params() == {"order": 3}


def test_bad_arrays_raise_input_error():
    with pytest.raises(InputError, match="SNV: .*NaN"):
        SNV().fit(np.array([[1.0, np.nan, 2.0]]))
    with pytest.raises(InputError, match="2D array"):
        MSC().fit(np.ones(5))


# sklearn's common checks on every transformer. Data in these checks is small (often 2-5
# features) and random, so some checks cannot apply to a spectral transformer; only those are
# skipped, each with its reason:
CHECK_SKIPS = {
    # Savitzky-Golay needs at least `window` wavelengths (window >= 3 to be a filter at all), and
    # these checks fit on 2-feature data; every other check runs with window=3.
    "SavitzkyGolay": {
        name: "fits 2-feature data; a window of 3 needs at least 3 wavelengths"
        for name in (
            "check_estimators_overwrite_params",
            "check_estimators_fit_returns_self",
            "check_readonly_memmap_input",
            "check_fit_idempotent",
            "check_fit_check_is_fitted",
            "check_n_features_in",
        )
    },
    # The check casts uniform [0, 3) data to integers: with 5 features some rows become constant
    # (all 1s), and SNV / MSC refuse flat spectra by design (no scale to divide by). The float
    # dtypes are covered by the other checks, ints by test_integer_spectra_are_accepted.
    "SNV": {"check_estimators_dtypes": "integer-cast check data has a constant row"},
    "MSC": {"check_estimators_dtypes": "integer-cast check data has a constant row"},
}
# check_array_api_input skips itself (SkipTest) unless SCIPY_ARRAY_API is set: numpy only.


@parametrize_with_checks(
    [
        NoPreprocessing(),
        SNV(),
        MSC(),
        SavitzkyGolay(window=3, polyorder=1, deriv=1),
        Detrend(order=1),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    reason = CHECK_SKIPS.get(type(estimator).__name__, {}).get(check.func.__name__)
    if reason:
        pytest.skip(reason)
    check(estimator)


def test_integer_spectra_are_accepted():
    X = np.array([[1, 2, 4, 3], [2, 5, 1, 0], [3, 3, 6, 1]])
    for model in (SNV(), MSC(), Detrend(), SavitzkyGolay(window=3, polyorder=1)):
        out = model.fit_transform(X)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, clone(model).fit_transform(X.astype(float)))
