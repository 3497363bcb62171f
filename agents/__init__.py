"""Surgewise agents: triggers, orchestrator, specialists, governance and channel adapters.

Agents are plain typed Python: they take data and return proposed actions. Governance is a separate,
pure policy engine fed by config files, and side effects happen only in adapters.
"""
