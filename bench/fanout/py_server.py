"""The python-socketio baseline: 5.x under uvicorn with defaults, the same protocol as node_server.mjs.

Usage: python py_server.py <port> <secret>
"""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone

import jwt
import socketio
import uvicorn

port, secret = int(sys.argv[1]), sys.argv[2]
sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
users: dict[str, str] = {}


@sio.event
async def connect(sid, environ, auth):
    try:
        claims = jwt.decode((auth or {}).get("token", ""), secret, algorithms=["HS256"], leeway=30)
    except jwt.PyJWTError:
        raise socketio.exceptions.ConnectionRefusedError("auth_invalid") from None
    users[sid] = claims["sub"]


@sio.event
async def disconnect(sid, reason=None):
    users.pop(sid, None)


@sio.event
async def subscribe(sid, req):
    await sio.enter_room(sid, req["topic"])
    return {"ok": True, "topic": req["topic"], "seq": 0}


@sio.event
async def publish(sid, req):
    ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    envelope = {
        "v": 1, "id": uuid.uuid4().hex, "type": req["type"], "topic": req["topic"], "seq": None,
        "ts": ts, "data": req["data"], "meta": {"sender": users.get(sid)},
    }
    await sio.emit(req["type"], envelope, room=req["topic"])
    return {"ok": True, "id": envelope["id"], "seq": None}


if __name__ == "__main__":
    uvicorn.run(socketio.ASGIApp(sio), host="127.0.0.1", port=port, log_level="warning")
