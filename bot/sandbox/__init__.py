"""Local stand-ins for Slack and the three providers, shared by the demo, tests and benches."""
