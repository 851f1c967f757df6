"""What a patient's free-text reply means: a keyword table per locale, read in tiers.

Compliance words win over everything: a STOP-family word anywhere in the reply ("stop please",
"СТОП!!!") revokes consent, then START grants it back, then HELP asks for the clinic. Only after
those does the reply answer the open question of the last actionable message (`1`/`2`, `да`/`нет`,
a rating 1-5). A reply that says none of this, or says two contradictory things ("да нет"), is
`UNKNOWN`: a person reads it, nobody answers "invalid response".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Question = Literal["attendance", "rating", "slot"]

# The question a message of each template asks (its buttons in channels/replies.py ANSWERS).
QUESTIONS: dict[str, Question] = {
    "visit_reminder": "attendance",
    "slot_offer": "slot",
    "feedback_request": "rating",
    "feedback_followup": "rating",
    "lesson_feedback_request": "rating",
    "lesson_feedback_followup": "rating",
}


class Intent(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"
    CONFIRM = "confirm"
    DECLINE = "decline"
    RATING = "rating"
    UNKNOWN = "unknown"


# Words that opt out wherever they stand in the reply: "stop please", "пожалуйста, стоп".
STOP_ANYWHERE = frozenset(
    {"stop", "stopall", "unsubscribe", "optout", "opt-out", "стоп", "отписаться", "отписка", "отпишите"}
)
# Twilio's and the FCC's other opt-out words: only a reply of that word alone, since "the end of
# the day" or "I'll cancel my gym" are not opt-outs. "opt out" is two words, matched as a phrase.
STOP_ALONE = frozenset({"cancel", "end", "quit", "revoke", "opt out"})
START = frozenset({"start", "unstop", "старт", "подписаться"})
HELP = frozenset({"help", "info", "помощь", "справка", "инфо"})

# Task words per language; every reply is also read with English and the digits.
ATTENDANCE: dict[str, dict[str, Intent]] = {
    "": {"1": Intent.CONFIRM, "2": Intent.DECLINE, "+": Intent.CONFIRM, "-": Intent.DECLINE},
    "en": {
        "yes": Intent.CONFIRM, "y": Intent.CONFIRM, "ok": Intent.CONFIRM, "okay": Intent.CONFIRM,
        "confirm": Intent.CONFIRM, "i'll come": Intent.CONFIRM, "will come": Intent.CONFIRM,
        "no": Intent.DECLINE, "n": Intent.DECLINE, "can't come": Intent.DECLINE,
        "cannot come": Intent.DECLINE, "can't make it": Intent.DECLINE, "won't come": Intent.DECLINE,
    },
    "ru": {
        "да": Intent.CONFIRM, "ага": Intent.CONFIRM, "ок": Intent.CONFIRM, "приду": Intent.CONFIRM,
        "буду": Intent.CONFIRM, "подтверждаю": Intent.CONFIRM, "конечно": Intent.CONFIRM,
        "нет": Intent.DECLINE, "не приду": Intent.DECLINE, "не буду": Intent.DECLINE,
        "не смогу": Intent.DECLINE, "не могу": Intent.DECLINE, "отмена": Intent.DECLINE,
        "отменить": Intent.DECLINE,
    },
    "uk": {
        "так": Intent.CONFIRM, "прийду": Intent.CONFIRM, "ні": Intent.DECLINE, "не прийду": Intent.DECLINE,
    },
    "de": {"ja": Intent.CONFIRM, "nein": Intent.DECLINE},
    "es": {"si": Intent.CONFIRM, "sí": Intent.CONFIRM, "no": Intent.DECLINE},
    "tr": {"evet": Intent.CONFIRM, "hayır": Intent.DECLINE, "hayir": Intent.DECLINE},
}  # fmt: skip
RATINGS = {str(n): n for n in range(1, 6)}
WORD = re.compile(r"[\w'+-]+")


@dataclass(frozen=True)
class Reply:
    intent: Intent
    rating: int | None = None
    # For a rating, what else the patient wrote ("5, thank you doctor").
    comment: str = ""


def normalize(text: str) -> str:
    """Lower case, `ё` as `е`, typographic apostrophes straight, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е").replace("’", "'")
    return " ".join(folded.split())


def _words(text: str) -> list[str]:
    return [w.strip("-") or w for w in WORD.findall(text)]


def _phrases(words: list[str], table: dict[str, Intent]) -> set[Intent]:
    """Intents of the table's entries found in the words, a phrase's words taken only once."""
    found: set[Intent] = set()
    rest = " " + " ".join(words) + " "
    for phrase in sorted(table, key=len, reverse=True):
        if f" {phrase} " in rest:
            found.add(table[phrase])
            rest = rest.replace(f" {phrase} ", " | ")
    return found


def _language(locale: str) -> str:
    return locale.replace("_", "-").split("-")[0].lower()


def read_reply(text: str, locale: str = "en", question: Question | None = None) -> Reply:
    """What the reply means, given the patient's locale and the question it may answer."""
    words = _words(normalize(text))
    joined = " ".join(words)
    if STOP_ANYWHERE & set(words) or joined in STOP_ALONE:
        return Reply(Intent.STOP)
    if joined in START or (words and words[0] in START and len(words) <= 2):
        return Reply(Intent.START)
    if joined in HELP:
        return Reply(Intent.HELP)
    if question == "rating":
        digits = [w for w in words if w in RATINGS]
        if len(digits) == 1 and words[0] == digits[0]:
            comment = normalize(text)[len(digits[0]) :].strip(" ,.;:-!")
            return Reply(Intent.RATING, rating=RATINGS[digits[0]], comment=comment)
    elif question in ("attendance", "slot"):
        table = ATTENDANCE[""] | ATTENDANCE["en"] | ATTENDANCE.get(_language(locale), {})
        found = _phrases(words, table)
        if len(found) == 1:
            return Reply(found.pop())
    return Reply(Intent.UNKNOWN)


def question_of(template: str) -> Question | None:
    return QUESTIONS.get(template)
