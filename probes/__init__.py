"""Synthetic probes: definitions, the async runner, locations and agents, results, rollups
and the evaluation of live component state.
"""
