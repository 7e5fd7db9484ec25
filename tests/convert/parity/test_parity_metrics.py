"""Metrics and the pass/warn/fail rule, checked against coremltools' own formula and against
arrays whose error is built to a known size."""

import math

import numpy as np
import pytest

from torchready.convert.parity.metrics import (allclose_violations, argmax_agreement,
                                               compare_arrays, fp16_elementwise, fp16_ulp)
from torchready.convert.parity.report import Comparison, outlier_notes
from torchready.convert.parity.thresholds import FAIL, PASS, WARN, Thresholds, judge, worst
from torchready.lint.types import UsageError


def _noisy(reference, psnr_db, seed=0):
    """`reference` plus white noise scaled so coremltools' PSNR comes out at `psnr_db`."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(reference.shape)
    peak = float(np.max(reference.astype(np.float64) ** 2))
    wanted_noise_var = peak / 10 ** (psnr_db / 10)
    noise *= math.sqrt(wanted_noise_var / np.mean(noise**2))
    return (reference + noise).astype(np.float32)


def test_psnr_and_snr_use_coremltools_formula():
    from coremltools.models.ml_program.experimental.debugging_utils import compute_snr_and_psnr

    rng = np.random.default_rng(1)
    reference = rng.standard_normal(500).astype(np.float32)
    candidate = reference + rng.normal(0, 1e-2, 500).astype(np.float32)
    metrics = compare_arrays(reference, candidate)
    snr, psnr = compute_snr_and_psnr(candidate.astype(np.float64), reference.astype(np.float64))
    assert metrics.psnr_db == pytest.approx(psnr, rel=1e-9)
    assert metrics.snr_db == pytest.approx(snr, rel=1e-9)


def test_identical_arrays_are_perfect_but_finite():
    reference = np.linspace(-3, 3, 60, dtype=np.float32).reshape(3, 20)
    metrics = compare_arrays(reference, reference.copy())
    assert metrics.max_abs == 0 and metrics.max_rel == 0
    assert math.isfinite(metrics.psnr_db) and metrics.psnr_db >= 50
    assert metrics.cosine == pytest.approx(1.0)
    assert metrics.nonfinite_mismatch == 0


def test_max_abs_max_rel_and_cosine_are_measured():
    reference = np.array([1.0, -2.0, 4.0, 0.0], dtype=np.float32)
    candidate = np.array([1.1, -2.0, 3.0, 0.0], dtype=np.float32)
    metrics = compare_arrays(reference, candidate)
    assert metrics.max_abs == pytest.approx(1.0, rel=1e-6)
    assert metrics.max_rel == pytest.approx(0.25, rel=1e-6)  # the 0.0 element is skipped
    expected_cosine = np.dot(reference, candidate) / (np.linalg.norm(reference)
                                                      * np.linalg.norm(candidate))
    assert metrics.cosine == pytest.approx(float(expected_cosine), rel=1e-6)


def test_nan_and_inf_where_the_reference_is_finite_are_counted():
    reference = np.ones(6, dtype=np.float32)
    candidate = reference.copy()
    candidate[1] = np.inf
    candidate[4] = np.nan
    metrics = compare_arrays(reference, candidate)
    assert metrics.nonfinite_mismatch == 2
    assert metrics.max_abs == 0  # the finite positions agree
    statuses = {c.metric: c.status for c in judge(metrics, Thresholds.for_precision("fp16"))}
    assert statuses["nonfinite"] == FAIL


def test_argmax_agreement_along_the_class_axis():
    rng = np.random.default_rng(2)
    reference = rng.standard_normal((1, 5, 4, 4))
    candidate = reference.copy()
    candidate[0, :, 0, 0] = -candidate[0, :, 0, 0]  # flips the winner at one of 16 pixels
    assert argmax_agreement(reference, candidate, 1) == pytest.approx(15 / 16)
    metrics = compare_arrays(reference, candidate, class_axis=1)
    assert metrics.argmax_agreement == pytest.approx(15 / 16)


def test_integer_outputs_are_compared_token_by_token():
    reference = np.array([[84, 104, 101, 32, 77]], dtype=np.int64)
    candidate = np.array([[84, 104, 102, 32, 77]], dtype=np.int32)
    metrics = compare_arrays(reference, candidate)
    assert metrics.kind == "int"
    assert metrics.exact_fraction == pytest.approx(0.8)
    assert metrics.first_mismatch == 2
    [check] = judge(metrics, Thresholds.for_precision("fp16"))
    assert (check.metric, check.status) == ("exact", FAIL)


def test_generated_sequences_of_other_lengths_report_where_they_part():
    reference = np.array([[1, 2, 3, 4, 5, 6]])
    candidate = np.array([[1, 2, 3, 9]])
    metrics = compare_arrays(reference, candidate)
    assert not metrics.shape_matches and metrics.first_mismatch == 3
    metrics_checks = {c.metric: c.status for c in judge(metrics, Thresholds.for_precision("fp32"))}
    assert metrics_checks == {"shape": FAIL, "exact": FAIL}


@pytest.mark.parametrize("psnr, expected", [(46.0, PASS), (37.5, WARN), (31.0, FAIL)])
def test_fp16_rule_passes_at_40_warns_from_35_fails_below(psnr, expected):
    reference = np.random.default_rng(3).standard_normal((4, 256)).astype(np.float32)
    candidate = _noisy(reference, psnr)
    metrics = compare_arrays(reference, candidate)
    assert metrics.psnr_db == pytest.approx(psnr, abs=0.01)
    checks = {c.metric: c for c in judge(metrics, Thresholds.for_precision("fp16"),
                                         reference, candidate)}
    assert checks["psnr"].status == expected
    assert "allclose" not in checks  # fp16 is judged by PSNR, not an absolute bound


def test_fp32_rule_is_coremltools_allclose_with_atol_scaled_by_the_peak():
    reference = np.linspace(-1, 1, 100, dtype=np.float64)
    rule = Thresholds.for_precision("fp32")
    assert allclose_violations(reference + 5e-5, reference, rule.atol, rule.rtol) == 0
    assert allclose_violations(reference + 3e-4, reference, rule.atol, rule.rtol) == 100
    # Logits in the thousands: 0.05 away is 5e-5 of the peak, within fp32 accumulation error.
    large = reference * 1000
    assert allclose_violations(large + 0.05, large, rule.atol, rule.rtol) == 0
    checks = {c.metric: c.status for c in judge(compare_arrays(large, large + 0.5), rule,
                                                large, large + 0.5)}
    assert checks["allclose"] == FAIL


def test_thresholds_are_configurable_and_checked():
    strict = Thresholds.for_precision("fp16", psnr_pass_db=90.0, psnr_fail_db=80.0)
    reference = np.random.default_rng(4).standard_normal(200).astype(np.float32)
    candidate = _noisy(reference, 60.0)
    [status] = [c.status for c in judge(compare_arrays(reference, candidate), strict)
                if c.metric == "psnr"]
    assert status == FAIL
    assert Thresholds.for_precision("float32").precision == "fp32"
    with pytest.raises(UsageError):
        Thresholds.for_precision("fp16", psnr=3)
    with pytest.raises(UsageError):
        Thresholds.for_precision("int8")


def test_worst_status_orders_fail_over_warn_over_pass():
    assert worst([PASS, WARN, PASS]) == WARN
    assert worst([WARN, FAIL]) == FAIL
    assert worst([]) == PASS


def test_thresholds_describe_every_gate_an_override_switches_on():
    # `--precision fp32 --parity-threshold psnr_pass_db=45` once crashed while describing it.
    fp32_with_psnr = Thresholds.for_precision("fp32", psnr_pass_db=45.0)
    assert "PSNR >= 45 dB" in fp32_with_psnr.describe()
    assert "allclose atol=0.0001" in fp32_with_psnr.describe()
    fp16_with_atol = Thresholds.for_precision("fp16", atol=1e-3)
    assert "PSNR >= 40 dB" in fp16_with_atol.describe() and "atol=0.001" in fp16_with_atol.describe()
    neither = Thresholds.for_precision("fp32", atol=None)
    assert "no numeric gate" in neither.describe()


def test_fp16_ulp_is_the_spacing_of_fp16_numbers():
    values = np.array([1.0, 1.5, 2.0, -3.0, 1000.0, 65504.0, 2.0 ** -14, 3.1e-5, 1e-7, 0.0])
    expected = [2.0 ** -10, 2.0 ** -10, 2.0 ** -9, 2.0 ** -9, 0.5, 32.0, 2.0 ** -24, 2.0 ** -24,
                2.0 ** -24, 2.0 ** -24]
    assert fp16_ulp(values).tolist() == expected
    normal = np.random.default_rng(0).uniform(-6e4, 6e4, 1000)
    normal = normal[np.abs(normal) >= 2.0 ** -14]
    as_fp16 = normal.astype(np.float16)
    np.testing.assert_array_equal(fp16_ulp(as_fp16), np.spacing(np.abs(as_fp16)).astype(np.float64))


def _fp16_matmul_chain(seed, depth=4, width=64):
    """A computation done in fp16 (every product and sum rounded) and in float64."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, width))
    exact, rounded = x, x.astype(np.float16)
    for _ in range(depth):
        weight = rng.standard_normal((width, width)) / np.sqrt(width)
        exact = np.tanh(exact @ weight) * 3
        rounded = (np.tanh((rounded @ weight.astype(np.float16)).astype(np.float16)) * 3
                   ).astype(np.float16)
    return exact, rounded.astype(np.float64)


@pytest.mark.parametrize("seed", range(4))
def test_fp16_arithmetic_stays_within_the_elementwise_rule(seed):
    reference, candidate = _fp16_matmul_chain(seed)
    rule = Thresholds.for_precision("fp16")
    checks = {c.metric: c for c in judge(compare_arrays(reference, candidate), rule, reference,
                                         candidate)}
    assert checks["elementwise"].status == PASS and checks["elementwise"].value == 0.0


def test_a_systematic_relative_error_fails_the_elementwise_rule_though_psnr_passes():
    """MIL `inverse` computes 1 / (x + 1e-4): 7% off where 1/x is largest, PSNR near 41 dB."""
    x = np.abs(np.random.default_rng(9).standard_normal(64))
    x[7] = 3e-4
    reference = 1.0 / (x + 1e-3)
    candidate = (1.0 / (x + 1e-3 + 1e-4)).astype(np.float16).astype(np.float64)
    checks = {c.metric: c for c in judge(compare_arrays(reference, candidate),
                                         Thresholds.for_precision("fp16"), reference, candidate)}
    assert checks["psnr"].status == PASS
    assert checks["elementwise"].status == FAIL
    assert "where PyTorch has 769.2" in checks["elementwise"].detail
    found = fp16_elementwise(candidate, reference, 8, 32)
    assert found.worst_reference == pytest.approx(reference[7]) and found.worst_ulps > 100


def test_outliers_within_the_allowed_share_pass_and_are_reported():
    reference = np.random.default_rng(5).standard_normal(10_000)
    candidate = reference.astype(np.float16).astype(np.float64)
    rule = Thresholds.for_precision("fp16")
    assert rule.allowed_outliers(reference.size) == 10
    few, many = candidate.copy(), candidate.copy()
    few[:10] += 0.5  # far outside: 0.5 is > 100 ulp16 of the output's peak (about 4)
    many[:11] += 0.5
    [passed] = [c for c in judge(compare_arrays(reference, few), rule, reference, few)
                if c.metric == "elementwise"]
    [failed] = [c for c in judge(compare_arrays(reference, many), rule, reference, many)
                if c.metric == "elementwise"]
    assert passed.status == PASS and passed.detail.startswith("10 of 10000 elements outside")
    assert failed.status == FAIL and failed.detail.startswith("11 of 10000 elements outside")
    comparison = Comparison("coreml", "random 2", "logits", compare_arrays(reference, few),
                            (passed,))
    [note] = outlier_notes([comparison])
    assert note.startswith("coreml output 'logits' on random 2: 10 of 10000 elements outside")
    assert "10 outlier(s) allowed" in note


def test_the_elementwise_rule_is_configurable_and_described():
    rule = Thresholds.for_precision("fp16")
    assert "|d| <= 8 ulp16(|ref|) + 32 ulp16(peak) at 99.9% of elements" in rule.describe()
    assert Thresholds.for_precision("fp32").ulps is None  # fp32 keeps coremltools' allclose
    x = np.linspace(1, 1.9, 100)
    shifted = x + 100 * fp16_ulp(x)  # 8 + 32 ulp16(x) allowed here (peak < 2: ulp16 2^-10)
    loose = Thresholds.for_precision("fp16", ulps=72)  # 104 allowed
    statuses = [next(c.status for c in judge(compare_arrays(x, shifted), r, x, shifted)
                     if c.metric == "elementwise") for r in (rule, loose)]
    assert statuses == [FAIL, PASS]
