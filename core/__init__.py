"""Configuration, database, clock, errors, users and auth: what every package leans on.

Nothing here imports another Bellwether package.
"""
