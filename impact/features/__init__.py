"""Every feature of the service, in the order their commands are matched. Adding a feature is
one line here (see README, "Adding a feature")."""

from __future__ import annotations

from impact.feature import Feature
from impact.features.alignment import ALIGNMENT
from impact.features.assessment import ASSESSMENT
from impact.features.huddles import HUDDLES
from impact.features.privacy import PRIVACY
from impact.features.rounds import ROUNDS

FEATURES: tuple[Feature, ...] = (
    ASSESSMENT,
    ROUNDS,
    ALIGNMENT,
    HUDDLES,
    PRIVACY,
)
