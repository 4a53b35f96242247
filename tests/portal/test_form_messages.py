"""Every form's messages come from our catalogs, in the page's script, one per field: each
form of the portal, filled with what none of its fields can read, in all three languages."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask, session
from werkzeug.datastructures import MultiDict
from wtforms import SelectFieldBase
from wtforms.i18n import messages_path

from portal.web.common.forms import Form, GetForm, in_currency

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ("en", "zh_Hant_TW", "zh_Hans_CN")
HAN = re.compile(r"[\u4e00-\u9fff]")


def _strings(path: Path) -> str:
    with path.open("rb") as handle:
        catalog = read_po(handle)
    found = []
    for message in catalog:
        found.extend(message.string if isinstance(message.string, tuple) else [message.string])
    return "".join(found)


def _script_only(ours: str, theirs: str) -> set[str]:
    """Han characters one of our Chinese catalogs uses and the other never does."""
    return set(HAN.findall(ours)) - set(HAN.findall(theirs))


TRADITIONAL = _strings(ROOT / "translations/zh_Hant_TW/LC_MESSAGES/messages.po")
SIMPLIFIED = _strings(ROOT / "translations/zh_Hans_CN/LC_MESSAGES/messages.po")
# What would show on a page in the wrong script.
WRONG_SCRIPT = {
    "zh_Hant_TW": _script_only(SIMPLIFIED, TRADITIONAL),
    "zh_Hans_CN": _script_only(TRADITIONAL, SIMPLIFIED),
}


def _wtforms_own() -> set[str]:
    """Every translation in WTForms' own catalogs (but English, which is ours too)."""
    found: set[str] = set()
    for po in Path(messages_path()).glob("*/LC_MESSAGES/wtforms.po"):
        with po.open("rb") as handle:
            for message in read_po(handle):
                strings = message.string if isinstance(message.string, tuple) else [message.string]
                ids = message.id if isinstance(message.id, tuple) else [message.id]
                found.update(s for s in strings if s and s not in ids)
    return found


WTFORMS_OWN = _wtforms_own()


def _all_forms(app: Flask) -> list[type[Form]]:
    """Every form class of the portal (the blueprints are imported by the factory)."""
    found: list[type[Form]] = []
    waiting = list(Form.__subclasses__())
    while waiting:
        cls = waiting.pop()
        waiting.extend(cls.__subclasses__())
        if cls.__module__.startswith("portal.") and cls is not GetForm:
            found.append(cls)
    return sorted(set(found), key=lambda cls: cls.__qualname__)


def _unreadable(form: Form) -> MultiDict[str, str]:
    """For every field, a value it cannot take: not a number, a date or a choice."""
    values: MultiDict[str, str] = MultiDict()
    for field in form:
        if field.type in ("CSRFTokenField", "HiddenField"):
            continue
        values.add(field.name, "¿no?" if not isinstance(field, SelectFieldBase) else "nope")
    return values


def test_every_form_class_of_the_portal_is_one_of_ours():
    from flask_wtf import FlaskForm

    from portal import create_app

    from .factories import app_config

    create_app(app_config("sqlite:///:memory:"))
    strays = []
    waiting = list(FlaskForm.__subclasses__())
    while waiting:
        cls = waiting.pop()
        waiting.extend(cls.__subclasses__())
        if cls.__module__.startswith("portal.") and not issubclass(cls, Form):
            strays.append(cls.__qualname__)
    assert strays == []


@pytest.mark.parametrize("locale", LOCALES)
def test_every_forms_messages_are_ours_in_the_pages_script_one_per_field(app, locale):
    checked = 0
    for cls in _all_forms(app):
        with app.test_request_context("/", method="POST"):
            session["lang"] = locale
            empty = cls(formdata=None, meta=in_currency("TWD"))
            form = cls(formdata=_unreadable(empty), meta=in_currency("TWD"))
            # A form whose view sets more before validating (the call form's limits) may
            # stop short; the fields' own checks have run all the same.
            with contextlib.suppress(AttributeError, TypeError):
                form.validate()
            for field in form:
                name = f"{cls.__qualname__}.{field.name}"
                assert len(field.errors) <= 1, (locale, name, field.errors)
                for error in field.errors:
                    text = str(error)
                    checked += 1
                    assert text not in WTFORMS_OWN, (locale, name, text)
                    if locale == "en":
                        assert not HAN.search(text), (locale, name, text)
                    else:
                        assert HAN.search(text), (locale, name, text)
                        assert not set(text) & WRONG_SCRIPT[locale], (locale, name, text)
    assert checked > 20


@pytest.mark.parametrize(
    ("typed", "shown_as"),
    [
        ("2026-12-05", 'type="date"'),
        ("", 'type="date"'),
        ("soon", 'type="text"'),
        ("2026-1-5", 'type="text"'),
        ("2026-02-30", 'type="text"'),
    ],
)
def test_a_date_that_is_not_yyyy_mm_dd_is_shown_back_as_typed_not_blanked(app, typed, shown_as):
    from wtforms import Form as Plain

    from portal.web.common.forms import DayField

    class Days(Plain):
        day = DayField("Day")

    with app.test_request_context("/"):
        form = Days(formdata=MultiDict({"day": typed}))
        html = str(form.day(type="date", min="2026-01-01"))
    assert shown_as in html
    assert f'value="{typed}"' in html or typed == ""
    if shown_as == 'type="text"':
        assert 'inputmode="numeric"' in html
        assert "min=" not in html


def test_a_number_field_is_text_with_a_numeric_keyboard_so_it_echoes_what_was_typed(app):
    from portal.web.borrower.forms import StatementForm

    with app.test_request_context("/", method="POST"):
        form = StatementForm(formdata=MultiDict({"household_size": "1" * 40}))
        html = str(form.household_size())
    assert 'type="text"' in html
    assert 'inputmode="numeric"' in html
    assert 'value="' + "1" * 40 + '"' in html


@pytest.mark.parametrize("locale", LOCALES)
def test_every_required_select_starts_with_an_empty_option(app, locale):
    from wtforms import SelectField

    seen = 0
    for cls in _all_forms(app):
        with app.test_request_context("/"):
            session["lang"] = locale
            form = cls(formdata=None, meta=in_currency("TWD"))
            for field in form:
                if type(field) is SelectField and field.flags.required:
                    if not list(field.iter_choices()):
                        field.choices = [("1", "A")]  # choices the view sets (ids or codes)
                    html = str(field())
                    first = re.findall(r"<option[^>]*>", html)[:1]
                    assert first == ['<option value="">'], (cls.__qualname__, html)
                    seen += 1
    assert seen >= 2  # the offer form's kind and frequency
