"""A certificate asked for in Slack: checked when the form is submitted, created by the worker on the asker's behalf,
and recognised exactly (not by its annotation alone) when the forwarder sends it back."""

from __future__ import annotations

import pytest
from memory import Csrgate, client_csr, cluster_config
from pydantic import ValidationError

from csrgate.domain.approvals import ClickAnswer
from csrgate.domain.asks import ASK_ANNOTATION, AskForm, AskState, CertificateAsk, openssl_command
from csrgate.domain.intake import EventType
from csrgate.domain.jobs import CreateCsr, ShowInCluster
from csrgate.domain.lifecycle import State
from csrgate.domain.records import SlackUser, request_id_for
from devstack.csrs import make_csr


def asked(gate: Csrgate, slack_user: str = "U0ANGELA", cn: str = "angela", **form: str) -> CertificateAsk:
    result = gate.ask(slack_user, client_csr(cn), **form)
    assert isinstance(result, CertificateAsk), result
    return result


def created_and_forwarded(gate: Csrgate, ask: CertificateAsk) -> str:
    """The worker creates the ask's CSR, and the forwarder sends it back: the request's id."""
    assert [job for job in gate.work() if not isinstance(job, ShowInCluster)] == [CreateCsr(ask.ask_id)]
    gate.forward(ask.csr_name, EventType.ADDED)
    return gate.request_id(ask.csr_name)


def test_an_ask_becomes_a_csr_created_for_the_asker_reviewed_as_theirs_and_delivered_to_them() -> None:
    gate = Csrgate()
    ask = asked(gate)
    assert gate.asks.get(ask.ask_id) == ask
    request_id = created_and_forwarded(gate, ask)
    created = gate.cluster.csrs_by_name[ask.csr_name]
    # exactly the spec that was checked, created by csrgate's own identity, annotated with the ask
    assert created.spec["signerName"] == "kubernetes.io/kube-apiserver-client"
    assert created.spec["usages"] == ["client auth"] and created.spec["expirationSeconds"] == 3600
    assert created.spec["username"] == gate.cluster.identity
    assert created.annotations == {ASK_ANNOTATION: ask.ask_id}
    record = gate.record(request_id)
    assert (record.ask_id, record.asker_slack_id, record.asker_name) == (ask.ask_id, "U0ANGELA", "angela")
    # the asker is known exactly: one approver is enough, and no finding says otherwise
    assert record.state is State.AWAITING_REVIEW and record.approvals_needed == 1
    assert not record.findings
    facts = gate.channel.facts(record.slack_message)  # type: ignore[arg-type]
    assert facts["Requested in Slack by (verified by Slack)"] == "@angela (U0ANGELA)"
    assert facts["Reason (theirs)"] == "on call this week"
    stored = gate.asks.get(ask.ask_id)
    assert stored is not None and stored.state is AskState.LINKED and stored.request_id == request_id
    assert gate.click(request_id, "U0ALICE").answer is ClickAnswer.DECIDED
    gate.work()
    assert gate.record(request_id).state is State.DELIVERED
    assert [user for user, _ in gate.requesters.delivered] == ["U0ANGELA"]


def test_someone_elses_cn_is_an_inline_error_and_nothing_is_created() -> None:
    gate = Csrgate()
    errors = gate.ask("U0ANGELA", client_csr("alice"))
    assert isinstance(errors, dict) and set(errors) == {"csr"}
    assert "'alice'" in errors["csr"] and "'angela'" in errors["csr"] and "-subj /CN=angela" in errors["csr"]
    assert gate.asks.asks == {} and gate.decisions.jobs == [] and gate.cluster.csrs_by_name == {}


def test_a_policy_denial_is_an_inline_error_naming_the_finding() -> None:
    gate = Csrgate()
    errors = gate.ask("U0ANGELA", make_csr("angela", key="rsa1024"))
    assert isinstance(errors, dict) and "weak-key" in errors["csr"]
    assert gate.asks.asks == {} and gate.decisions.jobs == []


def test_what_is_not_a_csr_is_refused_inline_and_a_private_key_is_never_taken() -> None:
    gate = Csrgate()
    key = b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
    for pasted, expected in [
        (key, "private key must never leave"),
        (b"hello", "No PEM block"),
        (b"", "Paste the CSR"),
        (b"x" * 20_000, "larger than 16 KiB"),
        (b"junk\n" + client_csr("angela"), "something comes before"),
    ]:
        errors = gate.ask("U0ANGELA", pasted)
        assert isinstance(errors, dict) and expected in errors["csr"], (pasted[:20], errors)
    assert gate.asks.asks == {} and gate.decisions.jobs == []


def test_lifetime_reason_and_cluster_are_checked_too() -> None:
    gate = Csrgate()
    errors = gate.ask("U0ANGELA", lifetime="99999999", reason="  ")
    assert isinstance(errors, dict) and set(errors) == {"lifetime", "reason"}
    errors = gate.ask("U0ANGELA", cluster="nowhere")
    assert errors == {"cluster": "Pick one of the clusters listed."}
    assert gate.asks.asks == {}


def test_an_eks_cluster_is_explained_and_nothing_is_created() -> None:
    gate = Csrgate()
    gate.directory.clusters["eks-prod"] = gate_eks()
    errors = gate.ask("U0ANGELA", cluster="eks-prod")
    assert isinstance(errors, dict) and "EKS" in errors["cluster"] and "/csrgate access" in errors["cluster"]
    assert gate.asks.asks == {} and gate.decisions.jobs == []


def test_a_cluster_csrgate_only_observes_takes_no_asks() -> None:
    # GIVEN lab in observe mode: csrgate would create a CSR that nobody through csrgate could approve
    gate = Csrgate()
    gate.reconfigure(mode="observe")
    errors = gate.ask("U0ANGELA")
    assert errors == {"cluster": "csrgate only observes lab for now and approves nothing there: ask its admins."}
    assert gate.asks.asks == {} and gate.decisions.jobs == []


def gate_eks():  # type: ignore[no-untyped-def]
    from csrgate.domain.cluster import SECRET_PREFIX_CONTEXT, ClusterConfig
    from devstack.lab import CLUSTERS

    return ClusterConfig.model_validate(CLUSTERS["eks-prod"], context={SECRET_PREFIX_CONTEXT: "csrgate"})


def test_an_approver_who_asked_may_not_approve_their_own_request() -> None:
    gate = Csrgate()
    ask = asked(gate, "U0ALICE", "alice")
    request_id = created_and_forwarded(gate, ask)
    refused = gate.click(request_id, "U0ALICE")
    assert refused.answer is ClickAnswer.REFUSED and "your own" in refused.text
    assert gate.record(request_id).approvals == ()
    assert gate.click(request_id, "U0BOB").answer is ClickAnswer.DECIDED


def test_a_forged_annotation_on_a_kubectl_csr_links_to_nobody_and_the_real_one_still_links() -> None:
    gate = Csrgate()
    ask = asked(gate)
    # mallory saw the ask's id somewhere and writes it on a CSR of her own, for angela's user
    gate.cluster.create_as(client_csr("angela"), "forged", username="mallory", annotations={ASK_ANNOTATION: ask.ask_id})
    gate.forward("forged", EventType.ADDED)
    forged = gate.record(gate.request_id("forged"))
    assert forged.asker_slack_id is None and forged.ask_id is None
    assert forged.approvals_needed == 2  # as any request for someone else's user
    assert "csr.ask_link_refused" in gate.store.event_names(forged.request_id)
    assert gate.asks.get(ask.ask_id).state is AskState.ASKED  # type: ignore[union-attr]
    request_id = created_and_forwarded(gate, ask)
    assert gate.record(request_id).asker_slack_id == "U0ANGELA"


def test_a_copy_of_the_created_csr_under_the_same_name_elsewhere_is_not_linked() -> None:
    gate = Csrgate()
    ask = asked(gate)
    request_id = created_and_forwarded(gate, ask)
    # the same spec and annotation again (deleted and recreated by someone who may): the ask has its CSR already
    created = gate.cluster.csrs_by_name.pop(ask.csr_name)
    gate.cluster.csrs_by_name[ask.csr_name] = type(created)(
        ask.csr_name, "uid-again", created.spec, created.annotations
    )
    gate.forward(ask.csr_name, EventType.ADDED)
    again = gate.record(request_id_for("lab", "uid-again"))
    assert again.asker_slack_id is None and again.request_id != request_id


def test_the_worker_creates_the_csr_once_however_often_the_job_comes() -> None:
    gate = Csrgate()
    ask = asked(gate)
    gate.work()
    gate.decisions.enqueue(CreateCsr(ask.ask_id))
    gate.work()
    assert list(gate.cluster.csrs_by_name) == [ask.csr_name]
    assert gate.asks.event_names().count("csr.created") == 1


def test_a_csr_of_that_name_that_is_not_csrgates_fails_the_ask_and_tells_the_asker() -> None:
    gate = Csrgate()
    ask = asked(gate)
    gate.cluster.create_as(client_csr("angela"), ask.csr_name, username="mallory")
    gate.work()
    failed = gate.asks.get(ask.ask_id)
    assert failed is not None and failed.state is AskState.FAILED and "did not create" in (failed.note or "")
    user, text = gate.requesters.told[-1]
    assert user == "U0ANGELA" and "could not be sent" in text and "mallory" not in text


def test_the_forwarder_may_bring_the_csr_back_before_the_worker_records_it() -> None:
    gate = Csrgate()
    ask = asked(gate)
    # intake links the CSR while the worker is between creating it and recording its uid
    gate.asks.before("move", lambda: gate.forward(ask.csr_name, EventType.ADDED))
    gate.work()
    stored = gate.asks.get(ask.ask_id)
    assert stored is not None and stored.state is AskState.LINKED
    assert gate.record(gate.request_id(ask.csr_name)).asker_slack_id == "U0ANGELA"
    assert gate.asks.event_names() == ["slack.certificate_asked", "csr.linked", "csr.created"]


def test_an_email_on_another_domain_cannot_ask_for_the_user_its_local_part_names() -> None:
    gate = Csrgate()
    gate.people.users["U0EVE"] = SlackUser("U0EVE", "eve", "alice@attacker.example")
    errors = gate.ask("U0EVE", client_csr("alice"))
    assert isinstance(errors, dict) and "example.com" in errors["csr"]
    assert gate.asks.asks == {} and gate.decisions.jobs == []


def test_a_user_name_the_cluster_maps_to_another_email_cannot_be_asked_for() -> None:
    gate = Csrgate()
    gate.reconfigure(requesterEmails={"angela": "angela.smith@example.com"})
    errors = gate.ask("U0ANGELA", client_csr("angela"))
    assert isinstance(errors, dict) and "belongs to another email" in errors["csr"]


def test_email_local_without_email_domains_is_refused_at_load() -> None:
    with pytest.raises(ValidationError, match="emailDomains"):
        cluster_config(selfService={"usernameTemplate": "{email_local}"})


def test_a_certificate_asked_for_in_slack_carries_no_groups() -> None:
    gate = Csrgate()
    errors = gate.ask("U0ANGELA", make_csr("angela", orgs=["cluster-admins"], key="p256"))
    assert isinstance(errors, dict) and "no groups" in errors["csr"]


def test_hostile_text_is_an_inline_error_never_a_crash() -> None:
    gate = Csrgate()
    assert "csr" in gate.asking.submit("U0ANGELA", AskForm("lab", "\ud800", "3600", "why"))  # type: ignore[operator]
    assert "lifetime" in gate.ask("U0ANGELA", lifetime="9" * 5000)  # type: ignore[operator]
    ask = gate.ask("U0ANGELA", reason="on call \ud800")
    assert isinstance(ask, CertificateAsk) and "\ud800" not in ask.reason


def test_asking_is_limited_to_a_few_times_an_hour() -> None:
    gate = Csrgate()
    for _ in range(5):
        asked(gate)
    errors = gate.ask("U0ANGELA")
    assert isinstance(errors, dict) and "5 times in the last hour" in errors["csr"]
    gate.clock.advance(hours=1, seconds=1)
    asked(gate)


def test_asks_submitted_at_once_cannot_pass_the_hourly_limit() -> None:
    # GIVEN angela asked four times in the hour
    gate = Csrgate()
    for _ in range(4):
        asked(gate)
    # WHEN two more asks land at the same moment (the second stored while the first is being stored)
    second: list[object] = []
    gate.asks.before("create", lambda: second.append(gate.ask("U0ANGELA", client_csr("angela"))))
    first = gate.ask("U0ANGELA", client_csr("angela"))
    # THEN one of them is told to wait, five are recorded, and five CSRs queued
    assert isinstance(first, CertificateAsk) and second == [
        {"csr": "You asked 5 times in the last hour: wait for those to be decided."}
    ]
    assert len(gate.asks.asks) == 5 and len(gate.decisions.jobs) == 5


def test_a_form_sent_back_with_errors_does_not_count_towards_the_limit() -> None:
    gate = Csrgate()
    for _ in range(10):
        assert "lifetime" in gate.ask("U0ANGELA", client_csr("angela"), lifetime="7")  # type: ignore[operator]
    for _ in range(5):
        asked(gate)
    assert "5 times in the last hour" in gate.ask("U0ANGELA", client_csr("angela"))["csr"]  # type: ignore[index]


def test_one_persons_asks_do_not_count_against_anothers() -> None:
    gate = Csrgate()
    for _ in range(5):
        asked(gate)
    asked(gate, "U0DANA", "dana")


def test_the_openssl_line_escapes_what_openssl_would_read_as_another_attribute() -> None:
    assert "-subj '/CN=dana\\+O\\=ops'" in openssl_command("dana+O=ops")


def test_an_asks_csr_is_judged_as_the_askers_as_the_form_judged_it_not_as_csrgates_identity() -> None:
    # GIVEN a policy that wants the CN to be whoever created the CSR, and that creator in a group to skip a person
    gate = Csrgate()
    gate.directory.policies["own"] = (
        "signers:\n  kubernetes.io/kube-apiserver-client:\n    onClean: approve\n"
        "    subjectMustMatchRequester: true\n    requesterGroups: [csrgate:workers]\n"
    )
    gate.reconfigure(policy="own")
    ask = asked(gate)  # the form judged it as angela's: her CN, none of csrgate's groups
    request_id = created_and_forwarded(gate, ask)
    # THEN intake judges it the same way: neither denied for csrgate having created it, nor approved on the
    # strength of csrgate's own groups; a person decides
    record = gate.record(request_id)
    assert record.state is State.AWAITING_REVIEW
    assert "requester-unknown" in [finding.code.value for finding in record.findings]
