"""Cards of a person's rights over their data: the link to their own data, and `forget me`'s
confirmation and outcome."""

from __future__ import annotations

from bot.cards.common import Card, card, execute, text

FORGET_WHAT = (
    "This erases everything I hold about you: your answers and comments (drafts included), your "
    "reminder settings, the rounds you were invited to, where I can reach you, and your name on "
    "huddle and alignment records, which stay as the team's. Results of closed rounds stay as "
    "group figures that name no one. This cannot be undone."
)


def my_data_card(url: str, minutes: int) -> Card:
    return card(
        [
            text("Your data", weight="bolder"),
            text(
                "Everything I store about you, as a JSON file: your profile, reminder settings, "
                "every assessment with its answers and comments, the rounds you took part in, "
                f"your roles and what the audit log records about you. The link works for "
                f"{minutes} minutes and only downloads; it changes nothing.",
                size="small",
            ),
        ],
        [{"type": "Action.OpenUrl", "title": "Download my data", "url": url}],
    )


def my_data_unavailable_card() -> Card:
    return card(
        [
            text("Your data", weight="bolder"),
            text(
                "I can't offer a download here (no public address is set up). Ask your "
                "improvement team: `impact-bot people export` gives them the same file for you.",
                size="small",
            ),
        ]
    )


def forget_confirm_card(asked_at: int, minutes: int) -> Card:
    """`asked_at`: when it was drawn (seconds since 1970); its Erase works for `minutes`."""
    return card(
        [
            text("Erase your data?", weight="bolder"),
            text(FORGET_WHAT, size="small"),
            text(f"This question expires after {minutes} minutes.", size="small", subtle=True),
        ],
        [
            execute(
                "Erase my data",
                "privacy_forget",
                {"asked_at": asked_at},
                style="destructive",
                inputs="none",
            ),
            execute("Keep it", "privacy_keep", {}, inputs="none"),
        ],
    )


def forgotten_card() -> Card:
    return card(
        [
            text("✓ Erased.", weight="bolder"),
            text(
                "Everything I held about you is gone. If you write to me again, I start afresh.",
                size="small",
            ),
        ]
    )


def nothing_stored_card() -> Card:
    return card([text("ⓘ I hold nothing about you.", weight="bolder")])


def kept_card() -> Card:
    return card([text("✓ Nothing was erased.", weight="bolder")])


def forget_expired_card() -> Card:
    return card(
        [
            text("ⓘ That question has expired. Nothing was erased.", weight="bolder"),
            text("Type `forget me` to be asked again.", size="small"),
        ]
    )
