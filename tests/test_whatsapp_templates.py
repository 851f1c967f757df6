"""Which language a WhatsApp template may go out in, from its statuses per language."""

from __future__ import annotations

from domain.whatsapp_templates import TemplateStatus, choose_language, language_codes, meta_status

A, R, P = TemplateStatus.APPROVED, TemplateStatus.REJECTED, TemplateStatus.PAUSED


def test_language_codes_are_meta_codes_most_specific_first() -> None:
    assert language_codes("pt-BR") == ["pt_BR", "pt"]
    assert language_codes("tr") == ["tr"]


def test_a_template_nobody_synced_is_tried_in_the_patients_language() -> None:
    choice = choose_language("visit_reminder", {}, "tr-TR", "en")
    assert (choice.language, choice.locale, choice.reason) == ("tr_TR", "tr-TR", None)


def test_an_approved_language_goes_under_the_code_meta_approved_it_with() -> None:
    choice = choose_language("visit_reminder", {"tr": A, "en_US": A}, "tr-TR", "en")
    assert (choice.language, choice.reason) == ("tr", None)


def test_a_rejected_language_falls_back_to_the_tenants_approved_language_with_the_reason() -> None:
    choice = choose_language("visit_reminder", {"tr": R, "en_US": A}, "tr", "en-US")
    assert (choice.language, choice.locale, choice.blocked) == ("en_US", "en-US", "tr")
    assert choice.reason == "the WhatsApp template visit_reminder in tr is rejected: sent in en_US instead"


def test_no_approved_language_at_all_means_no_template() -> None:
    paused = choose_language("visit_reminder", {"tr": P, "en": P}, "tr", "en")
    assert (paused.language, paused.blocked) == (None, "tr")
    assert paused.reason == "the WhatsApp template visit_reminder in tr is paused and none in en is approved"
    missing = choose_language("visit_reminder", {"en": R}, "de", "en")
    assert (missing.language, missing.blocked) == (None, None)  # German never existed: nothing to tell


def test_meta_statuses_map_onto_ours() -> None:
    assert [meta_status(s) for s in ("APPROVED", "IN_APPEAL", "PAUSED", "DISABLED", "WHATEVER")] == [
        A,
        TemplateStatus.PENDING,
        P,
        R,
        R,
    ]
