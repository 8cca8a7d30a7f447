"""A person in Teams, as the bot sees them: builds activities in the shapes Teams sends and posts
them to the bot's real /api/messages over HTTP on loopback.

Card buttons are pressed as Teams would: Action.Execute becomes an `adaptiveCard/action` invoke
whose response replaces the card in the chat; the Action.Submit fallback becomes a message with
`value` and `replyToId`. Inputs are merged into the action's data unless the action says
`associatedInputs: none`.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.fakes.connector import FakeConnector

BOT_ID = "28:impact-bot"
_counter = itertools.count(1)


@dataclass
class PostResult:
    status: int
    body: Any


def card_of(activity: dict[str, Any]) -> dict[str, Any] | None:
    for attachment in activity.get("attachments") or []:
        if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
            content = attachment.get("content")
            return content if isinstance(content, dict) else None
    return None


def card_text(card: dict[str, Any]) -> str:
    """All the text a card shows, flattened (for assertions)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("text", "title", "label", "value", "placeholder"):
                if isinstance(node.get(key), str) and node.get("type") != "Action.Execute":
                    parts.append(node[key])
            if node.get("type", "").startswith("Action."):
                parts.append(str(node.get("title", "")))
            for key in ("body", "items", "columns", "facts", "choices", "inlines", "actions"):
                walk(node.get(key))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return "\n".join(parts)


def all_actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every action a person can press on a card: its action bar first, then buttons in its
    body (ActionSets) and tappable elements (selectAction), in the order they are drawn."""
    found: list[dict[str, Any]] = list(card.get("actions") or [])

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "ActionSet":
                found.extend(node.get("actions") or [])
            if isinstance(node.get("selectAction"), dict):
                found.append(node["selectAction"])
            for key in ("body", "items", "columns"):
                walk(node.get(key))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card.get("body"))
    return found


def find_action(card: dict[str, Any], title: str) -> dict[str, Any]:
    actions = all_actions(card)
    for action in actions:
        if action.get("title") == title:
            return dict(action)
    titles = [a.get("title") for a in actions]
    raise AssertionError(f"no action {title!r} on the card; it has {titles}")


@dataclass
class TeamsUser:
    bot_url: str
    connector: FakeConnector
    tenant_id: str = "tenant-nhs-trust"
    name: str = "Alex Morgan"
    user_id: str = field(default_factory=lambda: f"29:user-{next(_counter)}-{uuid.uuid4().hex[:6]}")
    aad_object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    conversation_id: str = ""
    session: aiohttp.ClientSession | None = None
    team_id: str | None = None  # set: this person speaks in that team's channel

    def __post_init__(self) -> None:
        if not self.conversation_id:
            self.conversation_id = f"a:chat-{uuid.uuid4().hex}"
        # Teams knows which tenant a chat is in, and counts the bot's replies in that tenant's
        # window (the SDK's reply bodies do not say: botbuilder 4.17 drops `tenantId`).
        self.connector.add_conversation(self.conversation_id, tenant_id=self.tenant_id)

    def in_channel(self, team_id: str, channel_id: str | None = None) -> TeamsUser:
        """The same person, in a team's channel (its General channel by default, whose
        conversation id is the team's id), as Teams sends a channel's activities."""
        return TeamsUser(
            bot_url=self.bot_url,
            connector=self.connector,
            tenant_id=self.tenant_id,
            name=self.name,
            user_id=self.user_id,
            aad_object_id=self.aad_object_id,
            conversation_id=channel_id or team_id,
            session=self.session,
            team_id=team_id,
        )

    def member(self, role: str = "user") -> dict[str, Any]:
        """This person as a team's roster lists them (userRole owner | user | guest)."""
        return {
            "id": self.user_id,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "tenantId": self.tenant_id,
            "userRole": role,
        }

    # -- activities -----------------------------------------------------------------------

    def activity(self, **fields: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "id": f"f:{uuid.uuid4().hex}",
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "timestamp": "2026-11-25T10:00:00.000Z",
            "localTimezone": "Europe/London",
            "locale": "en-GB",
            "from": {"id": self.user_id, "name": self.name, "aadObjectId": self.aad_object_id},
            "recipient": {"id": BOT_ID, "name": "NHS IMPACT"},
            "conversation": {
                "id": self.conversation_id,
                "conversationType": "personal",
                "tenantId": self.tenant_id,
            },
            "channelData": {"tenant": {"id": self.tenant_id}},
        }
        if self.team_id is not None:
            base["conversation"] = {
                "id": self.conversation_id,
                "conversationType": "channel",
                "isGroup": True,
                "tenantId": self.tenant_id,
            }
            base["channelData"] = {
                "tenant": {"id": self.tenant_id},
                "team": {"id": self.team_id},
                "channel": {"id": self.conversation_id},
            }
        base.update(fields)
        return base

    async def post(self, activity: dict[str, Any], **headers: str) -> PostResult:
        assert self.session is not None, "TeamsUser needs a session"
        async with self.session.post(
            f"{self.bot_url}/api/messages", json=activity, headers=headers
        ) as response:
            body = await response.json() if response.content_type == "application/json" else None
            return PostResult(response.status, body)

    async def install(self) -> PostResult:
        return await self.post(
            self.activity(
                type="conversationUpdate",
                membersAdded=[{"id": BOT_ID}],
                channelData={"tenant": {"id": self.tenant_id}},
            )
        )

    async def add_bot_to_team(self, team_id: str, team_name: str) -> PostResult:
        """What Teams sends when this person adds the bot to a team (General channel)."""
        self.connector.add_conversation(team_id)
        return await self.post(
            self.activity(
                type="conversationUpdate",
                membersAdded=[{"id": BOT_ID}],
                conversation={
                    "id": team_id,
                    "conversationType": "channel",
                    "isGroup": True,
                    "tenantId": self.tenant_id,
                },
                channelData={
                    "tenant": {"id": self.tenant_id},
                    "eventType": "teamMemberAdded",
                    "team": {"id": team_id, "name": team_name, "aadGroupId": str(uuid.uuid4())},
                },
            )
        )

    async def say(self, text: str) -> PostResult:
        return await self.post(self.activity(type="message", text=text))

    # -- what the person sees -------------------------------------------------------------

    def chat(self) -> list[tuple[str, dict[str, Any]]]:
        return self.connector.shown(self.conversation_id)

    def cards(self) -> list[tuple[str, dict[str, Any]]]:
        return [(aid, card) for aid, activity in self.chat() if (card := card_of(activity))]

    def last_card(self) -> tuple[str, dict[str, Any]]:
        cards = self.cards()
        assert cards, "the bot has sent no card"
        return cards[-1]

    def texts(self) -> list[str]:
        return [activity.get("text") or "" for _aid, activity in self.chat()]

    # -- pressing buttons -----------------------------------------------------------------

    async def press(
        self,
        title: str,
        inputs: dict[str, Any] | None = None,
        *,
        card_id: str | None = None,
        via: str = "execute",
    ) -> PostResult:
        """Press a button on a card (the latest by default), filling in inputs first."""
        if card_id is None:
            card_id, card = self.last_card()
        else:
            card = card_of(self.connector.activity(self.conversation_id, card_id)) or {}
        action = find_action(card, title)
        return await self.press_action(card_id, action, inputs or {}, via=via)

    async def press_action(
        self, card_id: str, action: dict[str, Any], inputs: dict[str, Any], *, via: str = "execute"
    ) -> PostResult:
        if via == "submit":
            action = action.get("fallback", action)
        data = dict(action.get("data") or {})
        if action.get("associatedInputs", "auto") != "none":
            data.update(inputs)
        if via == "submit":
            return await self.post(self.activity(type="message", value=data, replyToId=card_id))
        return await self.execute(card_id, action.get("verb", ""), data)

    async def execute(self, card_id: str, verb: str, data: dict[str, Any]) -> PostResult:
        """An Action.Execute invoke; like Teams, show the returned card in place of the old one."""
        result = await self.post(
            self.activity(
                type="invoke",
                name="adaptiveCard/action",
                replyToId=card_id,
                value={
                    "action": {"type": "Action.Execute", "verb": verb, "data": data},
                    "trigger": "manual",
                },
            )
        )
        body = result.body
        if (
            result.status == 200
            and isinstance(body, dict)
            and body.get("type") == "application/vnd.microsoft.card.adaptive"
        ):
            self.connector.replace_shown(
                self.conversation_id,
                card_id,
                {
                    "type": "message",
                    "attachments": [
                        {
                            "contentType": "application/vnd.microsoft.card.adaptive",
                            "content": body["value"],
                        }
                    ],
                },
            )
        return result
