"""Shared pytest settings: a hypothesis profile sized for a 2-core CI machine."""

import os

import matplotlib
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

settings.register_profile("course", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("course")
