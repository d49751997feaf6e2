"""Phone-number forms: `0901…` and `84901…` are the same phone (product.md §5.1); magic numbers by last five digits."""

from __future__ import annotations

import functools
import re

# National numbers in this mock are Vietnamese (eSMS is a Vietnamese provider and its samples are `0…`), so a leading
# trunk 0 stands for country code 84 (product.md §5.1: "`0901…` and `84901…` are the same phone").
DEFAULT_COUNTRY_CODE = "84"


_NOT_DIGITS = re.compile(r"[^0-9]")


def digits(phone: str) -> str:
    """The ASCII digits of a phone number (separators, "+" and anything else dropped)."""
    return phone if phone.isascii() and phone.isdigit() else _NOT_DIGITS.sub("", phone)


@functools.lru_cache(maxsize=4096)
def international(phone: str) -> str:
    """`0901255500` -> `84901255500`; `+84 901…` -> `84901…`; other numbers keep their digits.

    Cached: one message asks it three times (its rule/magic-number decision, its stored form, its index keys), and it
    was ~8 % of a 100-phone eSMS send (bench/profile.py esms_100); recent phones are all that is ever asked again."""
    d = digits(phone)
    if d.startswith("0") and not d.startswith("00"):
        return DEFAULT_COUNTRY_CODE + d[1:]
    if d.startswith("00"):
        return d[2:]
    return d


def national(phone: str) -> str:
    """`84901255500` -> `0901255500` (the form eSMS echoes in callbacks and receiver lists)."""
    d = digits(phone)
    if d.startswith(DEFAULT_COUNTRY_CODE) and len(d) == len(DEFAULT_COUNTRY_CODE) + 9:
        return "0" + d[len(DEFAULT_COUNTRY_CODE):]
    return d


def phone_keys(phone: str) -> set[str]:
    """Every form a phone is indexed and searched under."""
    d = digits(phone)
    return {d, international(phone)} if d else {phone}


def last5(phone: str) -> str:
    return digits(phone)[-5:]
