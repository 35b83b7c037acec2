"""`make bench`: every bench/bench_*.py module's ``run()``, in one process, in order."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
from pathlib import Path

from bot.logs import configure_logging


async def main(only: list[str]) -> int:
    configure_logging("ERROR", "console")
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                   if m.name.startswith("bench_"))
    for name in names:
        if only and not any(o in name for o in only):
            continue
        module = importlib.import_module(f"bench.{name}")
        await module.run()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
