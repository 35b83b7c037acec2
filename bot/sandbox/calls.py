"""CINNOX call notifications as the documented webhook bodies, for tests, the demo and the
benchmarks (../shared/api-docs/cinnox-call-event-subscription.txt)."""

from __future__ import annotations

from typing import Any


def call_start(call_id: str, service_id: str = "svc-support", *, caller: str = "85291234567",
               callees: tuple[str, ...] = ("85261234567",), caller_eid: str | None = None) -> dict[str, Any]:
    party: dict[str, Any] = {"number": int(caller) if caller.isdigit() else caller}
    if caller_eid:
        party["eid"] = caller_eid
    return {"message": {
        "id": call_id, "status": "CallStart", "serviceId": service_id, "caller": party,
        "callees": [{"number": int(n) if n.isdigit() else n} for n in callees],
    }}


def call_end(call_id: str, service_id: str = "svc-support") -> dict[str, Any]:
    return {"message": {"id": call_id, "status": "CallEnd", "serviceId": service_id}}
