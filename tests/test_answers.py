"""The reply keyword table, read in tiers: compliance words first, then the open question."""

from __future__ import annotations

import pytest

from domain.answers import Intent, Question, read_reply

CASES: list[tuple[str, str, Question | None, Intent]] = [
    # STOP family, alone or inside a longer reply, whatever was asked
    ("STOP", "en", "attendance", Intent.STOP),
    ("Stop please", "en", None, Intent.STOP),
    ("please STOP texting me!!", "en", "rating", Intent.STOP),
    ("СТОП", "ru", "attendance", Intent.STOP),
    ("Пожалуйста, стоп.", "ru", None, Intent.STOP),
    ("ОТПИСАТЬСЯ", "ru", None, Intent.STOP),
    ("unsubscribe", "ru", None, Intent.STOP),
    ("Unsubscribe me from this", "en", "attendance", Intent.STOP),
    ("opt out", "en", None, Intent.STOP),
    ("cancel", "en", "attendance", Intent.STOP),
    ("quit", "en", None, Intent.STOP),
    # ...but the weak words only alone
    ("see you at the end of the day", "en", "attendance", Intent.UNKNOWN),
    # START and HELP
    ("START", "en", None, Intent.START),
    ("старт", "ru", "attendance", Intent.START),
    ("unstop", "en", None, Intent.START),
    ("HELP", "en", "attendance", Intent.HELP),
    ("Помощь", "ru", None, Intent.HELP),
    # attendance, per locale, digits everywhere
    ("1", "ru", "attendance", Intent.CONFIRM),
    ("2", "en", "attendance", Intent.DECLINE),
    (" 1. ", "en", "attendance", Intent.CONFIRM),
    ("да", "ru-RU", "attendance", Intent.CONFIRM),
    ("Да, приду", "ru", "attendance", Intent.CONFIRM),
    ("ДА!", "ru", "attendance", Intent.CONFIRM),
    ("нет", "ru", "attendance", Intent.DECLINE),
    ("Нет, не смогу", "ru", "attendance", Intent.DECLINE),
    ("не приду", "ru", "attendance", Intent.DECLINE),
    ("yes", "ru", "attendance", Intent.CONFIRM),
    ("Yes!", "en-GB", "attendance", Intent.CONFIRM),
    ("no", "en", "attendance", Intent.DECLINE),
    ("I can't come", "en", "attendance", Intent.DECLINE),
    ("I can’t make it", "en", "attendance", Intent.DECLINE),
    ("evet", "tr", "attendance", Intent.CONFIRM),
    ("nein", "de", "attendance", Intent.DECLINE),
    ("так", "uk", "attendance", Intent.CONFIRM),
    # a word of another language than the patient's is not guessed at
    ("evet", "ru", "attendance", Intent.UNKNOWN),
    # contradictions and chatter go to a person
    ("да нет", "ru", "attendance", Intent.UNKNOWN),
    ("1 2", "ru", "attendance", Intent.UNKNOWN),
    ("Можно перенести на пятницу?", "ru", "attendance", Intent.UNKNOWN),
    ("", "en", "attendance", Intent.UNKNOWN),
    # an answer with no open question is no answer
    ("да", "ru", None, Intent.UNKNOWN),
    ("1", "ru", None, Intent.UNKNOWN),
    # ratings only after a feedback request
    ("5", "ru", "rating", Intent.RATING),
    ("6", "ru", "rating", Intent.UNKNOWN),
    ("0", "ru", "rating", Intent.UNKNOWN),
    ("yes", "en", "rating", Intent.UNKNOWN),
]


@pytest.mark.parametrize(("text", "locale", "question", "intent"), CASES)
def test_a_reply_means_what_the_table_says(
    text: str, locale: str, question: Question | None, intent: Intent
) -> None:
    assert read_reply(text, locale, question).intent is intent


def test_a_rating_keeps_the_rest_of_the_reply_as_the_comment() -> None:
    reply = read_reply("4, спасибо доктору!", "ru", "rating")
    assert (reply.intent, reply.rating, reply.comment) == (Intent.RATING, 4, "спасибо доктору")
    assert read_reply("2", "en", "rating").rating == 2
