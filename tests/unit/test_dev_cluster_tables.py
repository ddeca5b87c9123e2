"""`kubectl get csr` columns as the dev cluster prints them: durations and the CONDITION summary."""

from __future__ import annotations

import pytest

from devstack.cluster.tables import condition_summary, human_duration, short_human_duration

HOUR, DAY = 3600, 86400


@pytest.mark.parametrize(
    ("seconds", "requested", "age"),
    [
        (1, "1s", "1s"),
        (70, "70s", "1m"),
        (190, "3m10s", "3m"),
        (70 * 60, "70m", "1h"),
        (47 * HOUR, "47h", "1d"),
        (49 * HOUR, "2d1h", "2d"),
        (8 * DAY + 2 * HOUR, "8d", "8d"),
        (367 * DAY, "367d", "1y"),
        (2 * 365 * DAY + 25 * HOUR, "2y1d", "2y"),
        (8 * 365 * DAY + 2 * HOUR, "8y", "8y"),
    ],
)
def test_durations_read_as_apimachinerys_util_duration_prints_them(seconds: int, requested: str, age: str) -> None:
    assert human_duration(seconds) == requested
    assert short_human_duration(seconds) == age


@pytest.mark.parametrize(
    ("kinds", "certificate", "shown"),
    [
        ([], "", "Pending"),
        (["Approved"], "", "Approved"),
        (["Approved"], "Y2VydA==", "Approved,Issued"),
        (["Approved", "Failed"], "", "Approved,Failed"),
        (["Denied"], "", "Denied"),
        (["Failed"], "", "Pending,Failed"),
    ],
)
def test_the_condition_column(kinds: list[str], certificate: str, shown: str) -> None:
    csr = {"status": {"conditions": [{"type": kind, "status": "True"} for kind in kinds], "certificate": certificate}}

    assert condition_summary(csr) == shown
