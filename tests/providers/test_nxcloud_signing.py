"""NXCLOUD's signature algorithm against NXCLOUD's own vectors (spec/providers/nxcloud.md §1.3), and the helper."""

from __future__ import annotations

import hashlib

import pytest
from multidict import CIMultiDict

from mock_server.providers.nxcloud import signing
from mock_server.providers.nxcloud.signing import compute_sign, sign_headers, string_to_sign, verify_sign

DOC_HEADERS = {"accessKey": "fme2na3kdi3ki", "ts": "1655710885431", "bizType": "1", "action": "send"}
SECRET = "abciiiko2k3"
VIBER_HEADERS = {**DOC_HEADERS, "bizType": "7", "action": "mt"}
VIBER_BODY = ('{"appkey":"TexxxP6","phone":"791xxxxx730","functionType":"text","messageData":'
              '{"rateType":"Transactional","text":"Your code is 989724."}}').encode()


@pytest.mark.parametrize(
    ("body", "sign"),
    [
        ('{"name":"牛小信","id":10001}', "87c3560d3331ae23f1021e2025722354"),  # Java/C#/canonical example
        ('{"id":10001,"name":"牛小信"}', "7750759da06333f20d0640be09355e34"),  # PHP/Go
        ('{"id": 10001, "name": "牛小信"}', "d0c24a9886c629330d7f3f2056c65bc2"),  # Python default separators
    ],
)
def test_documented_vectors_reproduce(body, sign):
    assert compute_sign(DOC_HEADERS, body.encode("utf-8"), SECRET) == sign


def test_canonical_pre_image_is_the_documented_string():
    pre = string_to_sign(DOC_HEADERS, '{"name":"牛小信","id":10001}'.encode(), SECRET)
    assert pre.decode("utf-8") == ('accessKey=fme2na3kdi3ki&action=send&bizType=1&ts=1655710885431'
                                   '&body={"name":"牛小信","id":10001}&accessSecret=abciiiko2k3')


def test_viber_vector_md5_sha256_and_empty_body():
    assert compute_sign(VIBER_HEADERS, VIBER_BODY, SECRET) == "2465f94d213fb0682edab6f90d0428ca"
    assert compute_sign(VIBER_HEADERS, VIBER_BODY, SECRET, algorithm="sha256") == (
        "9bf8b1fb8271b5bee374e6a91012646a401e882bcbe5a3c18500df8e67c610ee")
    assert compute_sign(VIBER_HEADERS, b"", SECRET) == "77f8e9671a693e06d402e18af6d236d6"
    # An empty body leaves "&body=" out entirely.
    assert string_to_sign(VIBER_HEADERS, b"", SECRET) == (
        b"accessKey=fme2na3kdi3ki&action=mt&bizType=7&ts=1655710885431&accessSecret=abciiiko2k3")


def test_body_is_hashed_byte_for_byte_even_when_not_utf8():
    raw = b'{"x":"\xff"}'
    expected = hashlib.md5(b"accessKey=fme2na3kdi3ki&action=mt&bizType=7&ts=1655710885431&body=" + raw
                           + b"&accessSecret=abciiiko2k3").hexdigest()
    assert compute_sign(VIBER_HEADERS, raw, SECRET) == expected


def test_sign_headers_builds_every_header_for_the_vector():
    headers = sign_headers("fme2na3kdi3ki", SECRET, VIBER_BODY, ts=1655710885431)
    assert headers == {"accessKey": "fme2na3kdi3ki", "ts": "1655710885431", "bizType": "7", "action": "mt",
                       "sign": "2465f94d213fb0682edab6f90d0428ca", "Content-Type": "application/json"}
    sha = sign_headers("fme2na3kdi3ki", SECRET, VIBER_BODY, ts=1655710885431, algorithm="sha256", content_type=None)
    assert sha["algorithm"] == "sha256"
    assert sha["sign"] == "9bf8b1fb8271b5bee374e6a91012646a401e882bcbe5a3c18500df8e67c610ee"
    assert "Content-Type" not in sha


def test_sign_headers_defaults_ts_to_the_wall_clock(monkeypatch):
    monkeypatch.setattr(signing, "wall_clock_ms", lambda: 1655710885431)
    assert sign_headers("fme2na3kdi3ki", SECRET, VIBER_BODY)["sign"] == "2465f94d213fb0682edab6f90d0428ca"


def test_sign_headers_signs_other_biz_types_and_actions():
    headers = sign_headers("fme2na3kdi3ki", SECRET, '{"name":"牛小信","id":10001}', ts="1655710885431",
                           biz_type="1", action="send")
    assert headers["sign"] == "87c3560d3331ae23f1021e2025722354"


def test_unknown_algorithm_is_refused():
    with pytest.raises(ValueError, match="md5 or sha256"):
        compute_sign(VIBER_HEADERS, VIBER_BODY, SECRET, algorithm="sha1")


def test_verify_sign_is_case_insensitive_and_tolerates_upper_case_hex():
    headers = CIMultiDict({"accesskey": "fme2na3kdi3ki", "TS": "1655710885431", "biztype": "7", "Action": "mt",
                           "SIGN": "2465F94D213FB0682EDAB6F90D0428CA"})
    assert verify_sign(headers, VIBER_BODY, SECRET)
    assert not verify_sign(headers, VIBER_BODY + b" ", SECRET)
    assert not verify_sign(headers, VIBER_BODY, "wrong")


def test_algorithm_inside_headers_str_only_in_lenient_mode():
    headers = {**VIBER_HEADERS, "algorithm": "sha256"}
    with_alg = compute_sign(headers, VIBER_BODY, SECRET, algorithm="sha256", include_algorithm=True)
    assert string_to_sign(headers, VIBER_BODY, SECRET, include_algorithm=True).startswith(
        b"accessKey=fme2na3kdi3ki&action=mt&algorithm=sha256&bizType=7&ts=")
    headers["sign"] = with_alg
    assert not verify_sign(headers, VIBER_BODY, SECRET)
    assert verify_sign(headers, VIBER_BODY, SECRET, lenient=True)
