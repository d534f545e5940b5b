"""auto for histories: dgan by shape; for signals, signal's settings by a validation score."""

from __future__ import annotations

from tasks.select_sequence import SIGNAL_CANDIDATES, select_sequence_family
from tests.generators.test_dgan import make_visits, visits_spec
from tests.generators.test_signal import make_moving_peaks, peaks_spec


def test_moving_peaks_choose_alignment_by_the_validation_detector() -> None:
    df = make_moving_peaks()
    selection = select_sequence_family(df, peaks_spec(df), seed=0)
    assert [c.candidate.settings for c in selection.candidates] == list(SIGNAL_CANDIDATES)
    plain, aligned = selection.candidates
    assert selection.chosen == aligned.candidate and aligned.private
    # a linear basis blurs a moving peak; aligned, the detector is close to chance
    assert plain.scores["detection_auc"] > 0.9 and aligned.scores["detection_auc"] < 0.75
    assert aligned.quality > plain.quality
    assert "fixed-length numeric signal" in selection.reason
    assert "validation patients" in selection.reason


def test_histories_that_are_not_signals_go_to_dgan_untrained() -> None:
    visits = make_visits(40)
    selection = select_sequence_family(visits, visits_spec(visits), seed=3)
    assert selection.chosen.generator == "dgan" and selection.chosen.seed == 3
    assert selection.candidates == [] and "not a fixed-length signal" in selection.reason


def test_too_few_patients_to_validate_keep_the_defaults() -> None:
    df = make_moving_peaks(patients=30, samples=16)  # 20 % of 30: 6 patients, too few to score
    selection = select_sequence_family(df, peaks_spec(df), seed=0)
    assert selection.chosen.settings == {} and selection.candidates == []
    assert "at its defaults" in selection.reason
