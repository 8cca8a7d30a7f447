"""The optional role question of a round: people's own description of their role, used only to
compare groups (leaders and frontline) where both are large enough to stay anonymous."""

from __future__ import annotations

ROLES: tuple[tuple[str, str], ...] = (
    ("board_executive", "Board or executive"),
    ("senior_leader_manager", "Senior leader or manager"),
    ("frontline_clinical", "Frontline clinical"),
    ("frontline_non_clinical", "Frontline non-clinical"),
    ("support_corporate", "Support or corporate"),
)
UNDISCLOSED = "undisclosed"  # "Prefer not to say": counted in the team, in no role group
ROLE_KEYS = frozenset(key for key, _label in ROLES) | {UNDISCLOSED}


def role_label(key: str) -> str:
    return dict(ROLES).get(key, "Prefer not to say")
