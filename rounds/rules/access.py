"""Who may do what with rounds. Decided on the server for every action, whatever a card says.

- the improvement team (Entra object ids in IMPACT_ADMIN_IDS): open, change, close, export rounds
  and read every team's results;
- everyone else: answer, and set their own reminders.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    MANAGE_ROUNDS = "manage_rounds"
    READ_ALL_RESULTS = "read_all_results"


@dataclass(frozen=True)
class Policy:
    admin_ids: frozenset[str]

    def allows(self, aad_object_id: str | None, permission: Permission) -> bool:
        return aad_object_id is not None and aad_object_id.lower() in self.admin_ids

    @classmethod
    def of(cls, admin_ids: tuple[str, ...]) -> Policy:
        return cls(frozenset(a.lower() for a in admin_ids))


REFUSED = "Only the improvement team can do that. Nothing was changed."
