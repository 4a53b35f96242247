"""Where a borrower lives, for the law that governs contacting them.

A jurisdiction is a code: ``TW``, ``CN``, ``HK``, ``US``, or ``US-`` and a state's postal
abbreviation (``US-CA``). A state's rules are layered on the federal ones (``US``): the
state's table in the policy, where there is one, applies together with the country's
(``layers``). ``derive`` reads it from what is on the borrower's record: a US postal
address's state and ZIP code first, then the time zone; an agent may set it instead.
"""

from __future__ import annotations

import re

COUNTRIES = ("TW", "CN", "HK", "US")
# The states, the District of Columbia and Puerto Rico, by their postal abbreviations.
US_STATES = (
    "AK",
    "AL",
    "AR",
    "AZ",
    "CA",
    "CO",
    "CT",
    "DC",
    "DE",
    "FL",
    "GA",
    "HI",
    "IA",
    "ID",
    "IL",
    "IN",
    "KS",
    "KY",
    "LA",
    "MA",
    "MD",
    "ME",
    "MI",
    "MN",
    "MO",
    "MS",
    "MT",
    "NC",
    "ND",
    "NE",
    "NH",
    "NJ",
    "NM",
    "NV",
    "NY",
    "OH",
    "OK",
    "OR",
    "PA",
    "PR",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VA",
    "VT",
    "WA",
    "WI",
    "WV",
    "WY",
)
JURISDICTIONS = (*COUNTRIES, *(f"US-{state}" for state in US_STATES))

# Zones that place a borrower in one country. American zones name the country only: a
# zone spans several states (America/Los_Angeles is California, Oregon, Washington and
# Nevada), so the state comes from the address or an agent.
_ZONES = {
    "Asia/Taipei": "TW",
    "Asia/Shanghai": "CN",
    "Asia/Chongqing": "CN",
    "Asia/Harbin": "CN",
    "Asia/Urumqi": "CN",
    "PRC": "CN",
    "Asia/Hong_Kong": "HK",
    "Hongkong": "HK",
    "Pacific/Honolulu": "US-HI",
    "America/Puerto_Rico": "US-PR",
}
_US_ZONE = re.compile(
    r"^(America/(New_York|Chicago|Denver|Phoenix|Los_Angeles|Anchorage|Juneau|Sitka|Nome|"
    r"Yakutat|Metlakatla|Boise|Detroit|Menominee|Adak|Indiana/.+|Kentucky/.+|"
    r"North_Dakota/.+)|US/.+)$"
)
# The last "XX 12345" (or "XX 12345-6789") in a US address: the state and ZIP code.
_STATE_ZIP = re.compile(r"\b([A-Z]{2})\s+\d{5}(?:-\d{4})?\b")
# What a borrower with nothing else to go on is: the lender's own market.
HOME = "TW"


def is_jurisdiction(code: str) -> bool:
    """True for a code ``derive`` can return and the database accepts."""
    return code in JURISDICTIONS


def layers(code: str) -> tuple[str, ...]:
    """The policy tables that apply to ``code``, the country first: ``US-CA`` is ``US``
    then ``US-CA``."""
    country, _, state = code.partition("-")
    return (country, code) if state else (code,)


def country_of(code: str) -> str:
    """The country part of a jurisdiction: ``US`` for ``US-CA``."""
    return code.partition("-")[0]


def derive(postal_address: str | None, time_zone: str | None, market: str | None = None) -> str:
    """The borrower's jurisdiction from their record.

    A US address with a state and ZIP code names the state; a zone that belongs to one
    country names it (an American one: ``US``, the state unknown); else the market their
    loan was made in; else the lender's own.
    """
    zone_code = _ZONES.get(time_zone or "")
    if zone_code is None and time_zone and _US_ZONE.match(time_zone):
        zone_code = "US"
    if postal_address and (zone_code is None or country_of(zone_code) == "US"):
        found = _STATE_ZIP.findall(postal_address)
        if found and found[-1] in US_STATES:
            return f"US-{found[-1]}"
    if zone_code is not None:
        return zone_code
    if market in COUNTRIES:
        return market
    return HOME
