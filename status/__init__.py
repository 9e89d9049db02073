"""Incidents, maintenance, the public status page, feeds and subscriptions."""
