"""What the mock shows or logs of a secret: the one mask token, and the password of a URL's userinfo masked.

A callback URL may carry credentials (`http://user:pass@host/cb`); the callback client sends them as Basic auth
(http_client.Target), so the request keeps the real URL and only what is shown or logged is masked.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# A scheme is matched only from the start of a run of scheme characters (the lookbehind), and each run is read once
# (possessive): `[A-Za-z][A-Za-z0-9+.\-]*://` tried every letter of a run again up to its end, O(n²) in a long word,
# so a 40 kB message text with an "@" and a "://" held the event loop 1.5 s each time it was shown (a 1 MB one, minutes).
# Group 1 is the scheme, from the run's first letter, as that pattern matched it. A tab, CR or LF may stand anywhere
# in it and in "://": urlsplit deletes them before it splits (_UNSAFE_URL_BYTES_TO_REMOVE), so "http:/\t/u:pw@host"
# is sent to host with u:pw as Basic auth, and was shown with its password in clear.
_SCHEME = re.compile(r"(?<![A-Za-z0-9+.\-\t\r\n])[0-9+.\-\t\r\n]*+([A-Za-z][A-Za-z0-9+.\-\t\r\n]*+)"
                     r":[\t\r\n]*+/[\t\r\n]*+/")
# What urlsplit strips from a URL's start (_WHATWG_C0_CONTROL_OR_SPACE): "\x00http://u:pw@host" is a URL to host too.
_C0_OR_SPACE = "".join(map(chr, range(0x21)))
# Where the authority ends. For a value that is one URL: where urllib.parse.urlsplit (so the callback client) ends it,
# at the first / ? or #, so the password masked is the one sent. Within other text (an error naming a URL, a body
# that is not JSON) also at a space, a quote or an angle bracket, which no URL has unencoded.
_AUTHORITY_END = re.compile(r"[/?#]")
_AUTHORITY_END_IN_TEXT = re.compile(r"[/?#\s\"<>]")


def mask_url(text: str) -> str:
    """`text` with the password of every URL's userinfo masked: `http://user:***@host/cb`. Split as urlsplit splits
    it: the userinfo ends at the authority's last @, the username at the userinfo's first : (RFC 3986 §3.2.1)."""
    if "@" not in text or "://" not in text and "\t" not in text and "\r" not in text and "\n" not in text:
        return text  # nearly every value: no search
    out: list[str] = []
    done = 0
    # urlsplit strips leading C0 controls and spaces: a value that is one URL starts there (or after any blank).
    lead = {len(text) - len(text.lstrip()), len(text) - len(text.lstrip(_C0_OR_SPACE))}
    for m in _SCHEME.finditer(text):
        start = m.end()
        if start < done:  # inside the authority already masked
            continue
        end_of = _AUTHORITY_END if m.start(1) in lead else _AUTHORITY_END_IN_TEXT
        found = end_of.search(text, start)
        end = found.start() if found else len(text)
        at = text.rfind("@", start, end)
        colon = text.find(":", start, at) if at >= 0 else -1
        if colon < 0 or colon + 1 == at:  # no userinfo, a username alone, or an empty password: nothing to hide
            continue
        out += (text[done:colon + 1], MASK)
        done = at
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def mask_urls_in(value: Any) -> Any:
    """A JSON value with every string's URL passwords masked (a new value where one changed; the same one if not)."""
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, dict):
        masked = {k: mask_urls_in(v) for k, v in value.items()}
        return value if all(masked[k] is value[k] for k in value) else masked
    if isinstance(value, list):
        items = [mask_urls_in(v) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else items
    return value
