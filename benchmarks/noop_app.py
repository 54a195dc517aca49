"""The framework's ceiling: the same FastAPI/uvicorn stack, parsing the JSON body into a dict, answering a constant."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()
_ANSWER = orjson.dumps({"readmission_risk": 0.5, "prediction": 1, "risk_band": "high"})


@app.post("/noop")
async def noop(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(_ANSWER, media_type="application/json")
