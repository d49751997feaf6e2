"""The baseline: a bare aiohttp app on the same Python that reads and parses the same JSON body and returns the
same canned answer at the same paths. It is the physical limit of the mock's own stack on this machine; bench/run.py
reports every mock figure as a ratio against it.

    python bench/baseline.py --port 0      # prints `listening on http://127.0.0.1:PORT`
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiohttp import web

from loopback import serve_until_stopped  # bench/ is the script's own directory

# The mock's success answers, byte for byte in shape (the ids are fixed here).
ESMS = b'{"CodeResult":"100","CountRegenerate":0,"SMSID":"d8e0f1f0702544b2acb456ca9ccfd111250"}'
INFOBIP = (b'{"messages":[{"to":{"phoneNumber":"41793055501"},"status":{"groupId":1,"groupName":"PENDING",'
           b'"id":7,"name":"PENDING_ENROUTE","description":"Message sent to next instance"},'
           b'"messageId":"9b5e1a52-3d5e-4e4e-8a43-7f4c7b3f2a11"}]}')
NXCLOUD = b'{"code":0,"message":"Success","data":{"requestId":"b81e8e9fcbbb422a813863e903de94bd"}}'
REPORTS = b'{"results":[]}'
LOGS = (b'{"results":[{"bulkId":"0f8f4c6f-5b22-4c2a-9d1e-2b7d3c1a9e11","messageId":"bench-known-message",'
        b'"to":"41790000055500","from":"ViberSender","text":"Bench known","sentAt":"2026-11-25T21:00:00.200+0000",'
        b'"doneAt":"2026-11-25T21:00:00.700+0000","messageCount":1,"mccMnc":"22801","price":{"pricePerMessage":0.0104,'
        b'"currency":"EUR"},"status":{"groupId":3,"groupName":"DELIVERED","id":5,"name":"DELIVERED_TO_HANDSET",'
        b'"description":"Message delivered to handset"},"channel":"VIBER"}]}')
OK = b"OK"


def canned(answer: bytes, content_type: str = "application/json"):
    async def handler(request: web.Request) -> web.Response:
        raw = await request.read()
        if raw:
            json.loads(raw)  # the same parse the mock does before anything else
        return web.Response(body=answer, content_type=content_type, charset="utf-8")

    return handler


def create_app() -> web.Application:
    app = web.Application(client_max_size=1048576)
    app.router.add_post("/MainService.svc/json/Send_Multiple_Sms_OTT/", canned(ESMS))
    app.router.add_post("/omni/1/advanced", canned(INFOBIP))
    app.router.add_get("/omni/1/reports", canned(REPORTS))
    app.router.add_get("/omni/1/logs", canned(LOGS))
    app.router.add_post("/api/viber/mt", canned(NXCLOUD))
    app.router.add_get("/_mock/health", canned(b'{"status":"ok"}'))
    return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--uvloop", action="store_true", help="run on uvloop (when the mock is benchmarked with it too)")
    args = p.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.install()
    asyncio.run(serve_until_stopped(create_app(), args.port))


if __name__ == "__main__":
    main()
