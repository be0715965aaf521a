"""Outage detection: baselines, detection, incidents, feeds."""
