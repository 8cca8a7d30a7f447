"""The privacy feature's card actions: the answer to `forget me`'s confirmation. Both act on the
sender only (who they are comes from Teams, never from the card's data)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from bot.actions.base import CardAction

# When the confirmation card was drawn, in whole seconds since 1970 (UTC).
Epoch = Annotated[int, Field(ge=0, le=2**40)]


class ForgetConfirmAction(CardAction):
    """Erase my data, from a confirmation card drawn at `asked_at` (an old card has expired)."""

    verb: Literal["privacy_forget"]
    asked_at: Epoch


class ForgetCancelAction(CardAction):
    """Keep my data."""

    verb: Literal["privacy_keep"]
