"""The fuzz test's inputs reach every verb every feature declares: the list comes from the
registry, so a new verb is fuzzed without editing the test."""

from __future__ import annotations

import pytest

from impact.features import FEATURES
from tests.fuzz import strategies as fz

pytestmark = pytest.mark.unit


def test_every_declared_verb_is_fuzzed() -> None:
    declared = {verb.verb for feature in FEATURES for verb in feature.verbs}
    assert {spec.verb for spec in fz.VERBS} == declared
    assert len(declared) >= 40
