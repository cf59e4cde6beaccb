"""Mojibake: made here by pushing our own sentences through the code pages."""

from __future__ import annotations

import pytest

from pipeline import mojibake


def garble(text: str, code_page: str, times: int = 1) -> str:
    """UTF-8 bytes read as `code_page`; a byte the code page lacks stays a C1 control."""
    for _ in range(times):
        text = "".join(
            _char(byte, code_page) for byte in text.encode("utf-8")
        )
    return text


def _char(byte: int, code_page: str) -> str:
    try:
        return bytes([byte]).decode(code_page)
    except UnicodeDecodeError:
        return chr(byte)


SENTENCES = [
    "It’s worth asking your nurse about “Medihoney” dressings…",
    "The café – near the clinic – serves tea • coffee • water.",
    "Miltex® is a trademark; ECT™ is not — ask which applies.",
    "Résumé of the naïve approach: façade, Zürich, São Paulo.",
]


@pytest.mark.parametrize("code_page", ["cp1252", "cp874", "cp1251", "mac_roman"])
@pytest.mark.parametrize("sentence", SENTENCES)
def test_each_code_page_is_found_and_repaired_exactly(code_page: str, sentence: str) -> None:
    damaged = garble(sentence, code_page)
    assert damaged != sentence
    found = mojibake.find(damaged)
    assert found, damaged
    for damage in found:
        assert damaged[damage.start - 1 : damage.end - 1] == damage.text
    repaired, count = mojibake.repair(damaged)
    assert repaired == sentence
    assert count == len(found)


def test_the_thai_bullet_that_ftfy_misses() -> None:
    damaged = garble("• Keep the wound clean", "cp874")
    assert damaged.startswith("โ€ข")
    (damage,) = mojibake.find(damaged)
    assert (damage.start, damage.end, damage.repaired, damage.code_page) == (1, 4, "•", "cp874")


@pytest.mark.parametrize("code_page", ["cp1252", "mac_roman"])
def test_text_damaged_twice(code_page: str) -> None:
    sentence = "It’s a “small” study – see the café."
    damaged = garble(sentence, code_page, times=2)
    assert mojibake.repair(damaged)[0] == sentence
    assert all(d.rounds == 2 for d in mojibake.find(damaged))


def test_columns_point_at_the_damage() -> None:
    line = "Ask " + garble("“why”", "cp1252") + " now"
    damages = mojibake.find(line)
    assert [(d.start, d.repaired) for d in damages] == [(5, "“"), (11, "”")]


def test_the_replacement_character_from_a_strict_decoder() -> None:
    # E2 80 9D (”) read strictly as cp1252 leaves U+FFFD for the undefined 0x9D.
    assert mojibake.repair("â€œquotedâ€\ufffd")[0] == "“quoted”"


CLEAN = [
    "ขอบคุณมากครับ การดูแลแผลที่ผิวหนัง รักษาความสะอาด",
    "Информация для пациентов: уход за кожей «советы» — всё хорошо, её ждут",
    "Ελληνικά: φροντίδα του δέρματος",
    "Crème brûlée, naïve, São Paulo, Zürich, Łódź, Dvořák, Ærø, smörgåsbord",
    "日本語のテキストと中文文本",
    "Symbols: ™ ® © ° ± × ÷ € £ ¥ • … – — “quotes” ‘single’",
    "Emoji 🙂 and arrows → ← and maths ≤ ≥",
    "Polish: Źdźbło, żółć; Czech: příliš žluťoučký kůň",
]


@pytest.mark.parametrize("text", CLEAN)
def test_correct_text_in_other_scripts_is_never_flagged(text: str) -> None:
    assert mojibake.find(text) == []
    assert mojibake.repair(text) == (text, 0)
