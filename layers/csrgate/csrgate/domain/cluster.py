"""What csrgate needs to know about the cluster a request came from."""

from __future__ import annotations

from enum import StrEnum


class ClusterKind(StrEnum):
    """EKS clusters sign only some signers; generic clusters run the in-tree signers."""

    GENERIC = "generic"
    EKS = "eks"
