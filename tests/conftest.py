"""Settings for the whole test suite."""

from __future__ import annotations

from hypothesis import settings

# The property tests check what a merge or a sync does, not how fast: hypothesis's default
# 200 ms deadline per example made a merge property fail once on a busy 2-core machine (no
# counterexample in 20,000 examples without it). Slow examples still count in its statistics.
settings.register_profile("officesync", deadline=None)
settings.load_profile("officesync")
