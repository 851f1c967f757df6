"""BCP 47 tags and the fallback chain a template lookup walks: `ru-RU` -> `ru` -> tenant default."""

from __future__ import annotations

import re

_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


def normalize_tag(tag: str) -> str:
    """`ru_ru` -> `ru-RU`, `zh_hant_tw` -> `zh-Hant-TW`: the spelling template files are named by."""
    if not _TAG.match(tag):
        raise ValueError(f"not a BCP 47 language tag: {tag!r}")
    language, *rest = tag.replace("_", "-").split("-")
    parts = [language.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            parts.append(part.title())
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            parts.append(part.upper())
        else:
            parts.append(part.lower())
    return "-".join(parts)


def language_of(tag: str) -> str:
    return normalize_tag(tag).split("-")[0]


def locale_chain(locale: str, default: str) -> list[str]:
    """The locales to try, most specific first, without repeats.

    `locale_chain("ru-RU", "en")` is `["ru-RU", "ru", "en"]`; `locale_chain("fr", "en-GB")` is
    `["fr", "en-GB", "en"]`.
    """
    chain: list[str] = []
    for tag in (locale, default):
        parts = normalize_tag(tag).split("-")
        for size in range(len(parts), 0, -1):
            candidate = "-".join(parts[:size])
            if candidate not in chain:
                chain.append(candidate)
    return chain
