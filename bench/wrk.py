"""wrk, the HTTP load generator written in C: one thread of it outruns any Python server
on loopback, so the figures are the server's, not the generator's. Installed from the
distribution's package when missing (as .ci/run installs PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).parent / "lua"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50: float
    p90: float
    p99: float
    non_2xx: int
    socket_errors: int

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package first when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    sudo: list[str] = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("bench: wrk is missing; installing the distribution's package (apt-get install wrk)", flush=True)
    for step in (["apt-get", "install", "-y", "-qq", "wrk"], ["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "wrk"]):
        done = subprocess.run([*sudo, *step], env=env, capture_output=True, text=True)
        if done.returncode == 0 and shutil.which("wrk"):
            break
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: wrk is needed and could not be installed (apt-get install wrk, as root)")
    return found


def _script(name: str) -> Path:
    """``name``.lua with the reporting ``done`` appended: wrk takes one script."""
    path = Path(tempfile.gettempdir()) / f"bench-{os.getpid()}-{name}.lua"
    path.write_text((LUA / f"{name}.lua").read_text() + "\n" + (LUA / "report.lua").read_text())
    return path


async def wrk(url: str, script: str, *args: str, connections: int = 50, seconds: float = 3.0,
              threads: int = 1) -> WrkResult:
    """Run wrk against ``url`` with bench/lua/``script``.lua (and its ``args``)."""
    command = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
               "-s", str(_script(script)), url, "--", *args]
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    for line in out.decode().splitlines():
        if line.startswith("WRK_JSON "):
            data = json.loads(line.removeprefix("WRK_JSON "))
            break
    else:
        raise SystemExit(f"bench: wrk gave no result ({err.decode().strip() or out.decode().strip()})")
    return WrkResult(
        requests=data["requests"], seconds=data["duration_us"] / 1e6, p50=data["p50_us"] / 1e6,
        p90=data["p90_us"] / 1e6, p99=data["p99_us"] / 1e6, non_2xx=data["non2xx"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"])


def write_signed(path: Path, requests: list[tuple[str, str, str]]) -> Path:
    """Signed Slack requests (timestamp, signature, body) for bench/lua/signed.lua."""
    path.write_text("".join(f"{ts}\t{sig}\t{body}\n" for ts, sig, body in requests))
    return path
