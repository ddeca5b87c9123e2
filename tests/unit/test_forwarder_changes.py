"""What the forwarder sends for what the cluster shows: ADDED while pending, MODIFIED on a decision or a
certificate, DELETED when a CSR goes, nothing for changes csrgate does not read."""

from __future__ import annotations

import copy
from typing import Any

from csrgate.forwarder.changes import ChangeTracker, CsrEvent, is_pending

CLIENT = "kubernetes.io/kube-apiserver-client"
SIGNERS = frozenset({CLIENT, "kubernetes.io/kubelet-serving"})


def csr(name: str, uid: str = "", signer: str = CLIENT, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name, "uid": uid or f"uid-{name}", "resourceVersion": "1"},
        "spec": {"request": "LS0t", "signerName": signer, "usages": ["client auth"]},
        "status": status,
    }


def approved(obj: dict[str, Any], certificate: str = "") -> dict[str, Any]:
    changed = copy.deepcopy(obj)
    changed["status"]["conditions"] = [{"type": "Approved", "status": "True", "reason": "CsrgateApproved"}]
    if certificate:
        changed["status"]["certificate"] = certificate
    return changed


def sent(events: list[CsrEvent]) -> list[tuple[str, str]]:
    return [(event.type, event.name) for event in events]


def test_a_list_sends_every_pending_csr_and_each_decided_one_once() -> None:
    tracker = ChangeTracker(SIGNERS)
    pending, decided = csr("alice"), approved(csr("bob"))

    first = tracker.listed([pending, decided])
    again = tracker.listed([pending, decided])

    assert sent(first) == [("ADDED", "alice"), ("MODIFIED", "bob")]
    assert sent(again) == [("ADDED", "alice")]  # pending ones again: at least once; bob's decision was sent


def test_watch_events_send_added_then_a_modified_per_decision_and_certificate() -> None:
    tracker = ChangeTracker(SIGNERS)
    alice = csr("alice")

    events = [
        *tracker.changed("ADDED", alice),
        *tracker.changed("MODIFIED", approved(alice)),
        *tracker.changed("MODIFIED", approved(alice)),  # nothing csrgate reads changed
        *tracker.changed("MODIFIED", approved(alice, certificate="LS0tQ0VSVA==")),
        *tracker.changed("DELETED", approved(alice, certificate="LS0tQ0VSVA==")),
    ]

    assert sent(events) == [("ADDED", "alice"), ("MODIFIED", "alice"), ("MODIFIED", "alice"), ("DELETED", "alice")]
    assert len(tracker) == 0


def test_label_and_annotation_changes_send_nothing() -> None:
    tracker = ChangeTracker(SIGNERS)
    alice = csr("alice")
    tracker.changed("ADDED", alice)
    relabelled = copy.deepcopy(alice)
    relabelled["metadata"]["labels"] = {"team": "platform"}

    assert tracker.changed("MODIFIED", relabelled) == []


def test_a_relist_sends_deleted_for_csrs_that_went_away_meanwhile() -> None:
    tracker = ChangeTracker(SIGNERS)
    alice, bob = csr("alice"), csr("bob")
    tracker.listed([alice, bob])

    events = tracker.listed([bob])

    assert sent(events) == [("ADDED", "bob"), ("DELETED", "alice")]
    assert events[1].object == alice  # the last version seen: csrgate needs its uid


def test_a_name_reused_with_a_new_uid_deletes_the_old_csr_first() -> None:
    tracker = ChangeTracker(SIGNERS)
    tracker.changed("ADDED", csr("alice", uid="first"))

    events = tracker.changed("ADDED", csr("alice", uid="second"))

    assert [(event.type, event.uid) for event in events] == [("DELETED", "first"), ("ADDED", "second")]


def test_a_csr_first_seen_already_decided_is_sent_as_modified() -> None:
    tracker = ChangeTracker(SIGNERS)

    assert sent(tracker.changed("MODIFIED", approved(csr("alice")))) == [("MODIFIED", "alice")]


def test_other_signers_are_left_alone_unless_every_signer_is_configured() -> None:
    other = csr("mesh", signer="example.com/mesh")

    assert ChangeTracker(SIGNERS).listed([other]) == []
    assert ChangeTracker(SIGNERS).changed("ADDED", other) == []
    assert sent(ChangeTracker(None).changed("ADDED", other)) == [("ADDED", "mesh")]


def test_pending_means_no_approved_or_denied_condition_that_is_true() -> None:
    alice = csr("alice")
    failed = csr("bob", conditions=[{"type": "Failed", "status": "True"}])
    withdrawn = csr("carol", conditions=[{"type": "Denied", "status": "False"}])
    denied_without_status = csr("dave", conditions=[{"type": "Denied"}])

    # a condition decides only with status "True", exactly, as intake reads it (the API server allows no other)
    assert is_pending(alice) and is_pending(failed) and is_pending(withdrawn) and is_pending(denied_without_status)
    assert not is_pending(approved(alice))
