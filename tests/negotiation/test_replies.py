"""A reply to an SMS: the stop keywords however they are written, and nothing else; the
local forms of an international number."""

from __future__ import annotations

import pytest

from negotiation.replies import asks_to_stop, keyword, national_forms, phone_digits


@pytest.mark.parametrize(
    "body",
    [
        "STOP",
        "stop",
        "  Stop  ",
        "STOP.",
        "stop!",
        "ＳＴＯＰ",  # full-width letters
        "ｓｔｏｐ！",
        "STOPALL",
        "unsubscribe",
        "Cancel",
        "END",
        "quit.",
        "退訂",
        "退订",
        " 退訂。",
        "「退订」",
        "取消訂閱",
        "取消订阅！",
        "\u3000取消訂閱\u3000",  # ideographic spaces
    ],
)
def test_every_stop_keyword_is_recognised_however_it_is_written(body):
    assert asks_to_stop(body)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "Please stop calling me at work",
        "don't stop",
        "STOP 2",
        "st op",
        "停止",
        "退",
        "訂閱",
        "YES",
        "START",
        "123456",
    ],
)
def test_other_text_never_asks_to_stop(body):
    assert not asks_to_stop(body)


def test_the_folding_is_nfkc_and_case_insensitive():
    assert keyword(" ＱＵＩＴ。 ") == "quit"


def test_an_international_number_is_matched_to_its_local_forms_in_its_country():
    assert phone_digits("+886 912-345 678") == "886912345678"
    assert national_forms("886912345678") == (("TW", ("0912345678",)),)
    assert national_forms("8613955501000") == (("CN", ("013955501000", "13955501000")),)
    assert national_forms("85291234567") == (("HK", ("91234567",)),)
    assert national_forms("12135550100") == (("US", ("2135550100",)),)
    # Too short to be a subscriber's number once the code is off: nothing.
    assert national_forms("88612345") == ()
