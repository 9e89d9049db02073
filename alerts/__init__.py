"""The outbox and its dispatcher; PagerDuty, email and webhook senders."""
