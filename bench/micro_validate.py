"""Micro-benchmark: JSON Schema validation with $refs resolved through the registry per call (before) and inlined
once at start-up (core/schemas.py). `python bench/micro_validate.py`; microseconds per validation, alternating runs."""
import time, sys
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parent.parent))
from mock_server.core import schemas as S
from mock_server.resources import schemas_dir
from jsonschema import Draft202012Validator
r = S.SchemaRegistry(schemas_dir())
from referencing import Registry, Resource
docs = r.documents
reg = Registry().with_resources([(d["$id"], Resource.from_contents(d)) for d in docs.values() if "$id" in d])
orig = {n: Draft202012Validator(d, registry=reg) for n, d in docs.items()}
inl = r._validators
body={"ApiKey":"K","SecretKey":"S","Brandname":"B","SmsType":"23","Content":"x","Phones":["0901234567"],"CallbackUrl":"http://x"}
body100=dict(body, Phones=["0901234567"]*100)
ib={"scenarioKey":"CC9F01A5DC7BEE2C2B829D203482A654","destinations":[{"to":{"phoneNumber":"41793055501"}}],"viber":{"text":"x"},"sms":{"text":"y"},"notifyUrl":"http://x"}
for name, b, n in (("esms/send_multiple_sms_ott.request", body, 3000), ("esms/send_multiple_sms_ott.request", body100, 300), ("infobip/advanced.request", ib, 2000)):
    for label, vs in (("orig", orig), ("inl", inl), ("orig", orig), ("inl", inl)):
        v = vs[name]
        t=time.perf_counter()
        for _ in range(n): list(v.iter_errors(b))
        print(name[:20], len(b.get("Phones", [])), label, round((time.perf_counter()-t)/n*1e6), "us")
