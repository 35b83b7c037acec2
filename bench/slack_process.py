"""The Slack emulator in a process of its own, as Slack is another machine: so that the
bench measures the relay, not the emulator sharing its event loop. Prints its URL, then
serves until stdin closes. ``python -m bench.slack_process <messages per s per channel>``."""

from __future__ import annotations

import asyncio
import sys

from bot.sandbox.slack import SlackEmulator
from bot.sandbox.stack import BOT_TOKEN


async def main(channel_rate: float) -> None:
    async with SlackEmulator(bot_token=BOT_TOKEN, channel_rate=channel_rate) as slack:
        # The response_url of the bench's view submissions (/response/bench): a live one, so
        # the bot's line after each submission is answered as Slack answers it, 200 "ok".
        slack.responses["bench"] = []
        print(slack.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1])))
