"""The raw-body gate (bot.gate.refusal): Teams only, and both tenant fields agreeing."""

from __future__ import annotations

import pytest

from bot.gate import refusal

pytestmark = pytest.mark.unit


def test_the_raw_gate_reads_both_tenant_fields() -> None:
    teams = {"channelId": "msteams"}
    assert refusal(teams) is None
    assert refusal({**teams, "conversation": {"tenantId": "a"}}) is None
    assert refusal({**teams, "channelData": {"tenant": {"id": "a"}}}) is None
    agreeing = {**teams, "conversation": {"tenantId": "a"}, "channelData": {"tenant": {"id": "a"}}}
    assert refusal(agreeing) is None
    assert refusal({**agreeing, "conversation": {"tenantId": "b"}}) is not None
    assert refusal({**agreeing, "conversation": {"tenantId": 5}}) is not None
    assert refusal({**agreeing, "channelId": "webchat"}) is not None
    assert refusal({**agreeing, "type": "event", "name": "ContinueConversation"}) is not None
    assert refusal({**agreeing, "type": "event", "name": "application/vnd.microsoft.x"}) is None
