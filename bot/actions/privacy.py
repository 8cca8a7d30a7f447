"""The privacy feature's card actions: the answer to `forget me`'s confirmation. Both act on the
sender only (who they are comes from Teams, never from the card's data)."""

from __future__ import annotations

from typing import Literal

from bot.actions.base import CardAction


class ForgetConfirmAction(CardAction):
    """Erase my data."""

    verb: Literal["privacy_forget"]


class ForgetCancelAction(CardAction):
    """Keep my data."""

    verb: Literal["privacy_keep"]
