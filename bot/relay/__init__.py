"""CINNOX call events → Slack threads: the webhook's event model, the ingest that stores
events before the 200, and the relay that delivers the outbox to Slack."""
