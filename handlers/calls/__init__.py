"""The call console: /call-events (``call_events``), the buttons on a call's message
(``buttons``), routing, the subscription, how notifications are getting to Slack
(``deliveries``) and the App Home."""
