"""What DynamoDigests stores reads back as written, on the table template.yaml makes (moto): a window's entries whole
(past one page of a query), a request's approval replaced by its denial and nothing else, the flush asked for once while
one waits, the lease held by one flush at a time, the first message kept; and nothing of it in the sweeper's index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stack import Stack

from csrgate.adapters.aws.digests import DynamoDigests
from csrgate.domain.digests import STALE_ASK_SECONDS, DigestEntry, window_of
from csrgate.domain.outcome import Outcome
from csrgate.domain.records import MessageRef

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = window_of(AT)


def digests(stack: Stack) -> DynamoDigests:
    return DynamoDigests(stack.session.client("dynamodb"), stack.resources["RequestTable"])


def entry(n: int, *, approved: bool = True, reason: str = "", observed: bool = False) -> DigestEntry:
    return DigestEntry(
        request_id=f"r-{n:04d}",
        csr_name=f"csr-{n}",
        signer="kubernetes.io/kubelet-serving",
        requester=f"system:node:node-{n // 2}",
        outcome=Outcome.APPROVE if approved else Outcome.DENY,
        reason=reason,
        observed=observed,
    )


def test_a_window_reads_back_whole_and_only_its_own_entries(stack: Stack) -> None:
    store = digests(stack)
    # 600 entries of about 2 KiB each: more than one page (1 MB) of a query
    long_reason = "x" * 2000
    written = [entry(n, approved=n % 3 != 0, reason=long_reason, observed=n % 5 == 0) for n in range(600)]
    for each in written:
        store.add("lab", WINDOW, each)
    store.add("lab", WINDOW + 60, entry(9999))  # the next window
    store.add("eks-prod", WINDOW, entry(8888))  # another cluster
    digest = store.read("lab", WINDOW)
    assert sorted(digest.entries, key=lambda e: e.request_id) == written
    assert digest.message is None


def test_an_approval_is_replaced_by_a_denial_and_nothing_else(stack: Stack) -> None:
    store = digests(stack)
    store.add("lab", WINDOW, entry(1, approved=True))
    # the worker turned the approval into a denial after reading the Node
    store.add("lab", WINDOW, entry(1, approved=False, reason="san-not-allowed: 10.0.0.9"))
    # intake's late retry of the older reading changes nothing
    store.add("lab", WINDOW, entry(1, approved=True))
    [kept] = store.read("lab", WINDOW).entries
    assert (kept.outcome, kept.reason) == (Outcome.DENY, "san-not-allowed: 10.0.0.9")
    # nor does a denial replace an observed entry, nor another denial a denial
    store.add("lab", WINDOW, entry(2, approved=True, observed=True))
    store.add("lab", WINDOW, entry(2, approved=False))
    store.add("lab", WINDOW, entry(1, approved=False, reason="another reading"))
    kept_by_id = {kept.request_id: kept for kept in store.read("lab", WINDOW).entries}
    assert kept_by_id["r-0002"].observed and kept_by_id["r-0002"].outcome is Outcome.APPROVE
    assert kept_by_id["r-0001"].reason == "san-not-allowed: 10.0.0.9"


def test_a_flush_is_asked_for_once_while_one_waits_and_again_once_taken_or_stale(stack: Stack) -> None:
    store = digests(stack)
    assert store.ask_flush("lab", WINDOW, AT)
    assert not store.ask_flush("lab", WINDOW, AT + timedelta(seconds=1))
    assert store.ask_flush("lab", WINDOW + 60, AT)  # another window
    store.take_flush("lab", WINDOW)
    assert store.ask_flush("lab", WINDOW, AT + timedelta(seconds=2))
    # its job was lost: asked again once the ask is stale
    assert not store.ask_flush("lab", WINDOW, AT + timedelta(seconds=2 + STALE_ASK_SECONDS))
    assert store.ask_flush("lab", WINDOW, AT + timedelta(seconds=3 + STALE_ASK_SECONDS))
    store.drop_flush("lab", WINDOW)
    assert store.ask_flush("lab", WINDOW, AT + timedelta(seconds=4 + STALE_ASK_SECONDS))


def test_one_flush_holds_the_lease_until_it_gives_it_back_or_it_lapses(stack: Stack) -> None:
    store = digests(stack)
    assert store.claim("lab", WINDOW, AT, 60)
    assert not store.claim("lab", WINDOW, AT + timedelta(seconds=59), 60)
    assert store.claim("lab", WINDOW, AT + timedelta(seconds=61), 60)  # the first one crashed
    store.release("lab", WINDOW)
    assert store.claim("lab", WINDOW, AT + timedelta(seconds=62), 60)


def test_the_first_message_is_kept(stack: Stack) -> None:
    store = digests(stack)
    store.add("lab", WINDOW, entry(1))
    store.save_message("lab", WINDOW, MessageRef("C0LAB", "1.000001"))
    store.save_message("lab", WINDOW, MessageRef("C0LAB", "1.000002"))
    assert store.read("lab", WINDOW).message == MessageRef("C0LAB", "1.000001")
    # the head and the entry expire a week after their window, and neither is something the sweeper looks at
    items = stack.items()
    assert [item["expires_at"] for item in items] == [WINDOW + 7 * 86400] * 2
    assert not [item for item in items if "pending" in item or "received_at" in item]
