"""NXCLOUD's signed-header convention: the signature over the exact raw body bytes, and a helper to sign requests.

Algorithm (spec/providers/nxcloud.md §1.2, verified against NXCLOUD's own vectors in §1.3):

    headersStr = "accessKey=…&action=…&bizType=…&ts=…"      # the required headers but sign, sorted by ASCII key
    pre-image  = headersStr + "&body=" + <raw body> + "&accessSecret=" + secret   # "&body=…" left out if empty
    sign       = lowercase hex of md5(pre-image), or sha256 when the header `algorithm: sha256` is sent

Users sign their own test requests with `sign_headers(...)`:

    body = json.dumps({...}).encode()
    await client.post("/api/viber/mt", data=body, headers=sign_headers("fme2na3kdi3ki", "abciiiko2k3", body))
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Mapping

ALGORITHMS = {"md5": hashlib.md5, "sha256": hashlib.sha256}
SIGNED_HEADERS = ("accessKey", "action", "bizType", "ts")  # sorted by ASCII key, as headersStr wants them
REQUIRED_HEADERS = ("accessKey", "ts", "bizType", "action", "sign")  # 1001 when one is missing (§1.4)
TS_WINDOW_MS = 60_000  # §1.1: at most 60000 ms between the client's ts and the server's clock


def wall_clock_ms() -> int:
    """The real wall clock in epoch ms: `ts` guards transport freshness, so the mock clock never applies
    (product.md §9). A module function so a test can pin it to a documented vector's ts."""
    return int(time.time() * 1000)


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def string_to_sign(headers: Mapping[str, str], body: bytes, access_secret: str, *,
                   include_algorithm: bool = False) -> bytes:
    """The pre-image, as bytes: the body goes in byte for byte, never decoded, re-serialised or canonicalised."""
    names = list(SIGNED_HEADERS)
    if include_algorithm and headers.get("algorithm"):
        # The lenient form: some clients sign `algorithm` too (a commented-out line in a real PHP client, §1.2).
        names = sorted(names + ["algorithm"])
    out = "&".join(f"{name}={headers.get(name, '')}" for name in names).encode("utf-8")
    if body:
        out += b"&body=" + body
    return out + b"&accessSecret=" + _bytes(access_secret)


def compute_sign(headers: Mapping[str, str], body: bytes, access_secret: str, *, algorithm: str = "md5",
                 include_algorithm: bool = False) -> str:
    """Lowercase hex digest of the pre-image with `algorithm` (md5 or sha256)."""
    try:
        digest = ALGORITHMS[algorithm.lower()]
    except KeyError:
        raise ValueError(f"algorithm must be md5 or sha256, not {algorithm!r}") from None
    return digest(string_to_sign(headers, body, access_secret, include_algorithm=include_algorithm)).hexdigest()


def sign_headers(access_key: str, access_secret: str, body: bytes | str, *, ts: int | str | None = None,
                 algorithm: str = "md5", biz_type: str = "7", action: str = "mt",
                 content_type: str | None = "application/json") -> dict[str, str]:
    """Every header a signed NXCLOUD request needs (Viber mt by default), for exactly these body bytes.

    `ts` defaults to the wall clock in ms. `algorithm="sha256"` adds the `algorithm` header (md5 is the default and
    is not sent). Send the very bytes you signed (`data=body`, not `json=`): the signature covers them byte for byte.
    """
    headers = {"accessKey": access_key, "ts": str(wall_clock_ms() if ts is None else ts), "bizType": str(biz_type),
               "action": action}
    headers["sign"] = compute_sign(headers, _bytes(body), access_secret, algorithm=algorithm)
    if algorithm.lower() != "md5":
        headers["algorithm"] = algorithm.lower()
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def verify_sign(headers: Mapping[str, str], body: bytes, access_secret: str, *, lenient: bool = False) -> bool:
    """True when `headers["sign"]` matches (upper-case hex tolerated, spec decision 4). `headers` must look names up
    case-insensitively (aiohttp's CIMultiDict does). `lenient` also accepts `algorithm` inside headersStr."""
    algorithm = (headers.get("algorithm") or "md5").lower()
    if algorithm not in ALGORITHMS:
        return False
    given = (headers.get("sign") or "").strip().lower().encode("utf-8", "replace")
    forms = (False, True) if lenient else (False,)
    return any(
        hmac.compare_digest(
            compute_sign(headers, body, access_secret, algorithm=algorithm, include_algorithm=form).encode(), given)
        for form in forms
    )
