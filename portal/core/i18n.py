"""Languages: choosing one by script, and formatting money and dates for it.

Werkzeug's ``best_match`` and Babel's ``negotiate_locale`` both fail on Chinese tags, so a
tag is parsed and sorted by script: Traditional (Hant, or TW, HK, MO) or Simplified
(Hans, CN, SG, or bare ``zh``). Order of choice: an explicit switch, then the borrower's
stored language, then the browser's Accept-Language.

A language is read in a market: the borrower's, by the currency of their loan. Traditional
Chinese in Hong Kong is its own catalog, ``zh_Hant_HK``: it inherits every translation of
``zh_Hant_TW`` and overrides what Hong Kong says differently (短訊, 身份證號碼, 公眾假期;
``translations/zh_Hant_HK/LC_MESSAGES/overrides.po``, merged by ``make compile``). The
lender's name, phone and hours follow the language and the market too (``lender``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time, get_timezone_location
from babel.lists import format_list
from babel.numbers import NumberPattern, format_currency, parse_pattern
from babel.support import NullTranslations, Translations
from flask import Flask, g, has_app_context, has_request_context, request, session, url_for
from flask_babel import Babel, Domain, get_locale, gettext
from flask_babel import gettext as babel_gettext
from markupsafe import Markup, escape
from werkzeug.routing import BuildError

from portal.core import settings
from portal.core.clock import as_utc
from portal.core.currency import minor_per_major, to_major

# The languages a reader chooses between (the switch on every page).
SUPPORTED = ("zh_Hant_TW", "zh_Hans_CN", "en")
DEFAULT = "zh_Hant_TW"
NAMES = {"zh_Hant_TW": "繁體中文", "zh_Hans_CN": "简体中文", "en": "English"}
# Regional catalogs, each with the language it inherits from.
REGIONAL = {"zh_Hant_HK": "zh_Hant_TW"}
# Every catalog there is, and each one's name (staff pages show a message's language).
LOCALES = (*SUPPORTED, *REGIONAL)
LOCALE_NAMES = {**NAMES, "zh_Hant_HK": "繁體中文\uff08香港\uff09"}
TRADITIONAL_TERRITORIES = frozenset({"TW", "HK", "MO"})
HONG_KONG_TERRITORIES = frozenset({"HK", "MO"})
# A borrower's market, by the currency of their loan; the lender's own is Taiwan.
MARKETS = {"TWD": "TW", "CNY": "CN", "HKD": "HK"}
HOME_MARKET = "TW"


def market_of(currency: str | None) -> str:
    """The market a loan in ``currency`` was made in."""
    return MARKETS.get(currency or "", HOME_MARKET)


def language_of(locale: str) -> str:
    """The chosen language a catalog belongs to (``zh_Hant_HK`` is Traditional Chinese)."""
    return REGIONAL.get(locale, locale)


def for_market(locale: str, market: str | None) -> str:
    """The catalog a reader of ``locale`` in ``market`` reads: Traditional Chinese is
    Hong Kong's in Hong Kong and Taiwan's elsewhere. With no market known, the locale
    as asked for."""
    if market is None:
        return locale if locale in LOCALES else DEFAULT
    language = language_of(locale) if locale in LOCALES else DEFAULT
    if language == "zh_Hant_TW" and market == "HK":
        return "zh_Hant_HK"
    return language


def speak_to(locale: str, currency: str | None) -> None:
    """Answer this request in a borrower's language, read in their loan's market."""
    g.borrower_locale = locale
    g.borrower_market = market_of(currency)


@dataclass(frozen=True)
class Lender:
    """How the lender is named and reached, as one reader sees it."""

    name: str
    phone: str
    hours: str
    email: str


def lender(locale: str | None = None, market: str | None = None) -> Lender:
    """The lender's name in the script of ``locale`` (the request's by default), and the
    phone and hours of ``market`` (the borrower's, else the lender's own): a mainland or
    Hong Kong borrower is never given a Taiwan 0800 number."""
    current = settings.current()
    locale = locale or str(get_locale() or DEFAULT)
    if market is None:
        market = _request_market() or HOME_MARKET
    name = current.get("LENDER_NAME")
    if locale.startswith("zh_Hans"):
        name = current.get("LENDER_NAME_HANS") or name
    phone, hours = current.get("LENDER_PHONE"), current.get("LENDER_HOURS")
    if market in ("CN", "HK"):
        phone = current.get(f"LENDER_PHONE_{market}") or phone
        hours = current.get(f"LENDER_HOURS_{market}") or hours
    return Lender(str(name or ""), str(phone or ""), str(hours or ""), current.lender_email)


def _request_market() -> str | None:
    """The market of the borrower this request speaks to, if any."""
    if not has_request_context():
        return None
    market = getattr(g, "borrower_market", None) or session.get("borrower_market")
    return str(market) if market in MARKETS.values() else None


def supported_for(tag: str) -> str | None:
    """The supported locale a language tag asks for, or None."""
    if tag in SUPPORTED:
        return tag
    # Subtags by their shape (BCP 47): a 4-letter script, a 2-letter region. Parsed by
    # hand because Babel has no data for valid tags such as zh-Hans-TW.
    parts = tag.replace("_", "-").split("-")
    language = parts[0].lower()
    script = next((p.title() for p in parts[1:] if len(p) == 4 and p.isalpha()), None)
    region = next((p.upper() for p in parts[1:] if len(p) == 2 and p.isalpha()), None)
    if language == "en":
        return "en"
    if language != "zh":
        return None
    if script == "Hant" or (script is None and region in TRADITIONAL_TERRITORIES):
        return "zh_Hant_HK" if region in HONG_KONG_TERRITORIES else "zh_Hant_TW"
    return "zh_Hans_CN"


def select_locale() -> str:
    """The catalog for this request: the language chosen, read in the borrower's market."""
    market = _request_market()
    chosen = session.get("lang")
    if chosen in SUPPORTED:
        return for_market(str(chosen), market)
    stored = getattr(g, "borrower_locale", None) or session.get("borrower_locale")
    if stored in LOCALES:
        return for_market(str(stored), market)
    for tag, _quality in request.accept_languages:
        found = supported_for(tag)
        if found:
            return for_market(found, market)
    return DEFAULT


SWITCH_FIELD = "_lang"


def remember_switch() -> None:
    """An explicit ``?lang=`` switch, or a language re-post (``_lang``, see
    ``language_repost``), is remembered for the rest of the session."""
    wanted = request.args.get("lang")
    if wanted is None and switching_language():
        wanted = request.form.get(SWITCH_FIELD)
    if wanted in SUPPORTED:
        session["lang"] = wanted


def switching_language() -> bool:
    """True when this POST is a language switch re-posting a page's form: the view
    shows the same state again, in the new language, and changes nothing."""
    return (
        request.method == "POST"
        and request.mimetype == "application/x-www-form-urlencoded"
        and request.form.get(SWITCH_FIELD) in SUPPORTED
    )


def language_repost() -> list[tuple[str, str]] | None:
    """On a page a POST rendered (a form shown again with its errors), the fields to
    post again with a language switch, so that the switch keeps what was typed and the
    page's state: a link would be a GET the endpoint does not answer (405), or would
    lose the form. Only where the view said it treats such a re-post as a redisplay
    (``g.language_repost``); None elsewhere, where the switch stays a link."""
    if request.method != "POST" or not g.get("language_repost"):
        return None
    return [
        (name, value)
        for name, value in request.form.items(multi=True)
        if name not in ("csrf_token", SWITCH_FIELD)
    ]


def switch_language_action() -> str:
    """Where a language re-post goes: the matched endpoint's own URL."""
    return switch_language_url(DEFAULT).split("?", 1)[0]


def gap() -> str:
    """The space between two sentences: none in Chinese, one in English."""
    return "" if str(get_locale() or DEFAULT).startswith("zh") else " "


def listed(items: Iterable[object]) -> str:
    """Items as one list in the page's language: "A, B, and C"; "A、B和C"."""
    return format_list([str(item) for item in items], locale=str(get_locale() or DEFAULT))


def switch_language_url(code: str) -> str:
    """This page's address in another language: the same query (a plan being reviewed
    stays the same plan), with ``lang`` set. The path is built from the matched route,
    never copied from the request: a path the router only tolerated (``/%5Cevil.example/``
    on an error page) would become an address on another site. With no route matched
    (a page not found), the front door in that language."""
    path = "/"
    if request.url_rule is not None and request.endpoint:
        try:
            path = url_for(request.endpoint, **(request.view_args or {}))
        except BuildError:
            path = "/"
    arguments = request.args.to_dict(flat=False)
    arguments["lang"] = [code]
    return path + "?" + urlencode(arguments, doseq=True)


class Unbroken(str):
    """Text that must not break across lines: a date ("2027年1月6日" split after "6" on a
    phone) or an amount. Plain text wherever it is used as a string (a message, a letter,
    a CSV, an attribute through ``plain``); in HTML, through Jinja's escaping, a
    ``nowrap`` span."""

    __slots__ = ()

    def __html__(self) -> str:
        return f'<span class="nowrap">{escape(str(self))}</span>'


class Phrase(str):
    """A translated sentence: plain text as a string, and in HTML with each value's own
    HTML (an unbroken date or amount stays unbroken inside the sentence)."""

    __slots__ = ("_html",)
    _html: str

    def __new__(cls, text: str, html: str) -> Phrase:
        made = super().__new__(cls, text)
        made._html = html
        return made

    def __html__(self) -> str:
        return self._html


def phrase(message: str, **values: Any) -> str:
    """flask_babel's ``gettext`` for sentences built in code that carry dates and amounts:
    the same text, and HTML that keeps each value unbroken (see ``Unbroken``)."""
    translated = babel_gettext(message)
    if not values:
        return translated
    text = translated % {name: str(value) for name, value in values.items()}
    # escape() makes the message safe text (a translation holds no markup); % then
    # escapes each value, or takes its own HTML (Unbroken, Phrase).
    return Phrase(text, escape(translated) % values)


def joined(*parts: str) -> str:
    """Sentences put together, keeping each one's HTML (see ``Phrase``)."""
    return Phrase("".join(str(part) for part in parts), Markup("").join(parts))


def plain(value: Any) -> str:
    """A value as plain text, for an attribute (``aria-label``): no markup inside."""
    return str(value)


@cache
def _taiwan_dollars(cents: bool) -> NumberPattern:
    # "NT$" in every language: Taiwan's own "$" alone reads as any dollar. Parsed once:
    # a page of amounts parsed the same pattern for each one.
    return parse_pattern("'NT$'#,##0" + (".00" if cents else ""))


def money(amount: int, currency: str) -> str:
    """An amount of minor units in the request's language; whole Taiwan dollars without
    cents, as they are written in Taiwan."""
    # The request's Locale itself, not its name: Babel would parse the name again for
    # every amount.
    return _money(amount, currency, get_locale() or DEFAULT)


@lru_cache(maxsize=4096)
def _money(amount: int, currency: str, locale: Locale | str) -> str:
    # What the three arguments alone decide, kept for the amounts pages show again (a
    # queue's page reloaded): Babel's formatting was a tenth of the queue's time.
    value = to_major(amount, currency)
    if currency == "TWD":
        pattern = _taiwan_dollars(amount % minor_per_major(currency) != 0)
        return Unbroken(
            format_currency(value, currency, format=pattern, locale=locale, currency_digits=False)
        )
    return Unbroken(format_currency(value, currency, locale=locale))


def long_date(day: date) -> str:
    """A date as the request's language writes it in full (unbroken in HTML)."""
    return Unbroken(format_date(day, format="long", locale=str(get_locale() or DEFAULT)))


def zoned_time(moment: datetime | None, zone: str, *, seconds: bool = True) -> str:
    """A stored moment on the clock of ``zone`` (the borrower's), with the zone named, as
    the request's language writes it; "—" for none. Without ``seconds``, the date and
    the time to the minute (what a message's schedule needs)."""
    if moment is None:
        return "—"
    local = as_utc(moment).astimezone(ZoneInfo(zone))
    locale = str(get_locale() or DEFAULT)
    if seconds:
        shown = format_datetime(local, "medium", locale=locale)
    else:
        day = format_date(local, "medium", locale=locale)
        shown = f"{day} {format_time(local, 'short', locale=locale)}"
    # The zone in parentheses of the language's own width.
    return gettext("%(time)s (%(zone)s)", time=shown, zone=zone_name(zone))


def zone_name(zone: str) -> str:
    """A time zone as the request's language names it: its city (台北, 洛杉矶, Los
    Angeles), never the database's code (Asia/Taipei); the code if the language has no
    name for it."""
    try:
        return str(
            get_timezone_location(zone, locale=str(get_locale() or DEFAULT), return_city=True)
        )
    except LookupError:
        return zone


def html_lang() -> str:
    """The BCP 47 tag for the page's ``lang`` attribute."""
    locale = str(get_locale() or DEFAULT)
    return "en" if locale == "en" else locale.replace("_", "-")


def language_tag(code: str) -> str:
    """The BCP 47 tag of one of the supported locales (``zh_Hant_TW`` -> ``zh-Hant-TW``)."""
    return code.replace("_", "-")


def language_name(code: str) -> Markup:
    """A language's own name, marked with its language (WCAG 3.1.2): "English" on a
    Chinese page is read by an English voice. An unknown code is shown as it is."""
    name = LOCALE_NAMES.get(code)
    if name is None:
        return Markup("{}").format(code)
    return Markup('<span lang="{}">{}</span>').format(language_tag(code), name)


def machine_time(moment: datetime) -> str:
    """A moment for ``<time datetime>``: UTC to the second, as HTML's global date and
    time string (an ISO string with microseconds is not a valid value)."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


class RequestCatalog(Domain):
    """Flask-Babel's default domain, keeping the catalog it found for the request's
    locale. Flask-Babel looks the request's context up three times, and spells the
    locale's name again, for each string it translates: a page's hundred strings (its
    words, its choices, its lazy labels) did so a hundred times. The catalog is kept
    beside the very locale object it was found for (Flask-Babel's own, in its namespace
    on ``g``) and served only while that object is the request's: ``force_locale`` and
    ``refresh`` put another in its place, which finds its own catalog."""

    def get_translations(self) -> Translations | NullTranslations:
        """The request's catalog, as Flask-Babel's ``Domain`` finds it."""
        try:
            namespace = g._flask_babel
            locale, domain, catalog = namespace.haohuan_catalog
            if locale is namespace.babel_locale and domain is self:
                return catalog  # type: ignore[no-any-return]  # a tuple on a plain namespace
        except (AttributeError, RuntimeError):  # not yet kept, or outside any app
            pass
        found: Translations | NullTranslations = super().get_translations()  # type: ignore[no-untyped-call]  # Flask-Babel leaves it untyped
        if has_app_context():
            namespace = g._flask_babel
            locale = getattr(namespace, "babel_locale", None)
            if locale is not None:
                namespace.haohuan_catalog = (locale, self, found)
        return found


def init_app(app: Flask) -> None:
    """Bind Flask-Babel and the template helpers."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(app.root_path + "/../translations"))
    babel = Babel(app, locale_selector=select_locale)
    babel.domain_instance = RequestCatalog(domain=app.extensions["babel"].default_domain)  # type: ignore[no-untyped-call]  # Flask-Babel's __init__
    app.before_request(remember_switch)
    app.jinja_env.globals.update(
        money=money,
        long_date=long_date,
        html_lang=html_lang,
        LANGUAGES=NAMES,
        LOCALE_NAMES=LOCALE_NAMES,
        switch_language_url=switch_language_url,
        language_repost=language_repost,
        switch_language_action=switch_language_action,
        SWITCH_FIELD=SWITCH_FIELD,
        gap=gap,
        listed=listed,
        language_name=language_name,
        language_tag=language_tag,
        machine_time=machine_time,
        zone_name=zone_name,
    )
    app.jinja_env.filters["plain"] = plain
    app.context_processor(_template_context)


def _template_context() -> dict[str, object]:
    locale = str(get_locale() or DEFAULT)
    return {"current_locale": locale, "current_language": language_of(locale), "lender": lender()}
