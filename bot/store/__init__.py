"""The bot's store: SQLAlchemy 2 async over SQLite (embedded default, WAL) or PostgreSQL."""

from bot.store.db import Store, async_url

__all__ = ["Store", "async_url"]
