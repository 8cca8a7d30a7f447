from tests.fakes.teams_client import card_text


async def test_install_then_start_answer_one(teams_user):
    user = teams_user()
    result = await user.install()
    assert result.status in (200, 201), result
    _, welcome = user.last_card()
    assert "22 questions" in card_text(welcome)
    await user.press("Start")
    card_id, question = user.last_card()
    assert "Question 1 of 22" in card_text(question)
    result = await user.press("Next", {"level": "3", "comment": "hello"})
    assert result.status == 200, result
    print(card_text(user.connector.activity(user.conversation_id, card_id)["attachments"][0]["content"]))
    _, q2 = user.last_card()
    assert "Question 2 of 22" in card_text(q2)
