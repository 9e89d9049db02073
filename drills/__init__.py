"""Failure drills: inject each failure of the resiliency paper into a running Bellwether,
watch what it does, and compare with what it should do."""
