"""1,000 generated webhook bodies: never a 5xx, and the bot keeps serving."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sandbox.stack import SandboxStack

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=10), kids, max_size=5),
    max_leaves=25,
)
anything = st.one_of(json_values, st.text(max_size=30), st.integers())
party = st.one_of(anything, st.fixed_dictionaries({}, optional={"eid": anything, "number": anything}))
event_like = st.fixed_dictionaries({"message": st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=200), anything),
        "status": st.one_of(st.sampled_from(["CallStart", "CallEnd", "callstart", ""]), anything),
        "serviceId": st.one_of(st.text(max_size=150), anything),
        "caller": party,
        "callees": st.one_of(st.lists(party, max_size=4), party),
    },
)})
numbers = st.one_of(st.integers(min_value=0, max_value=10**15), st.text(max_size=20))
valid_events = st.fixed_dictionaries({"message": st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=128), "status": st.sampled_from(["CallStart", "CallEnd"]),
     "serviceId": st.text(min_size=1, max_size=128)},
    optional={
        "caller": st.fixed_dictionaries({}, optional={"eid": st.text(max_size=40), "number": numbers}),
        "callees": st.lists(st.fixed_dictionaries({"number": numbers}), max_size=3),
    },
)})
bodies = st.one_of(
    valid_events.map(lambda v: json.dumps(v).encode()),
    event_like.map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"challenge": anything}).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
)


def test_no_generated_body_gets_a_5xx_and_the_bot_stays_up(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    stack = SandboxStack(tmp_path, providers=False)
    loop.run_until_complete(stack.start())
    answers: dict[int, int] = {}
    try:
        @settings(max_examples=1000, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(bodies)
        def post(body: bytes) -> None:
            status, answer = loop.run_until_complete(stack.webhook(body))
            answers[status] = answers.get(status, 0) + 1
            assert status in (200, 400, 413), (status, answer, body[:200])
            assert isinstance(answer, dict)

        post()
        assert sum(answers.values()) >= 1000
        assert answers.get(400, 0) > 0 and answers.get(200, 0) > 0, answers

        async def health() -> tuple[int, Any]:
            assert stack.http is not None
            async with stack.http.get(stack.url + "/healthz") as resp:
                return resp.status, await resp.json()

        assert loop.run_until_complete(health()) == (200, {"status": "ok"})
    finally:
        loop.run_until_complete(stack.stop())
        loop.close()
