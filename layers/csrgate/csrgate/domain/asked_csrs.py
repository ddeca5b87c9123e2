"""The CSR of a certificate asked for in Slack: created by the worker on the asker's behalf, and recognised by intake
when the forwarder sends it back, so the request that follows knows, exactly, who asked.

Recognising it takes more than its `csrgate.io/ask` annotation, which anyone who may create CSRs can write: the ask
must be in this cluster, under this name, for exactly this spec (request, signer, usages, lifetime), and not yet
linked to another CSR. Linking is one conditional write, so one ask becomes at most one request.
"""

from __future__ import annotations

from dataclasses import replace

from csrgate.domain.asks import ASK_ANNOTATION, AskState, CertificateAsk
from csrgate.domain.cluster import ClusterConfig
from csrgate.domain.ports import AskStore, AuditLog, Clock, ClusterAccess, ClusterDirectory, Conflict, Requesters
from csrgate.domain.records import Actor, AuditEvent
from csrgate.domain.request import CsrObject

_LINKABLE = (AskState.ASKED, AskState.CREATED)


class AskedCsrs:
    """Creates the CSR of each ask (the worker's job); safe to repeat, and it never creates two."""

    def __init__(
        self,
        clusters: ClusterDirectory,
        access: ClusterAccess,
        asks: AskStore,
        requesters: Requesters,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._clusters = clusters
        self._access = access
        self._asks = asks
        self._requesters = requesters
        self._audit = audit
        self._clock = clock

    def create(self, ask_id: str) -> CertificateAsk | None:
        """Create the ask's CSR in its cluster, once; an ask already created, linked or failed is left alone."""
        ask = self._asks.get(ask_id)
        if ask is None or ask.state is not AskState.ASKED:
            return ask
        cluster = self._clusters.get(ask.cluster)
        if cluster is None:
            return self.give_up(ask_id, f"cluster {ask.cluster} is no longer configured in csrgate")
        if cluster.observing:
            return self.give_up(ask_id, f"csrgate only observes {cluster.name} now and approves nothing there")
        uid = self._access.csrs(cluster).create(ask.csr_name, ask.spec, {ASK_ANNOTATION: ask.ask_id})
        if uid is None:
            return self.give_up(ask_id, f"a CSR named {ask.csr_name} exists that csrgate did not create for you")
        event = AuditEvent.about_ask(ask, "csr.created", Actor.SERVICE, self._clock(), csr_uid=uid)
        try:
            ask = self._asks.move(ask, AskState.CREATED, event, {"csr_uid": uid})
        except Conflict:
            current = self._asks.get(ask_id)
            if current is None or current.csr_uid != uid:
                return self.give_up(ask_id, "another CSR was linked to your request first")
            self._asks.add_event(event)  # intake saw the CSR come back before this was recorded: it is linked
            ask = current
        self._audit.write(event)
        return ask

    def give_up(self, ask_id: str, reason: str) -> CertificateAsk | None:
        """The CSR cannot be created: the ask fails, and the asker is told why."""
        ask = self._asks.get(ask_id)
        if ask is None or ask.state not in _LINKABLE:
            return ask
        event = AuditEvent.about_ask(ask, "slack.ask_failed", Actor.SERVICE, self._clock(), reason=reason)
        try:
            ask = self._asks.move(ask, AskState.FAILED, event, {"note": reason})
        except Conflict:
            return self._asks.get(ask_id)  # created or linked meanwhile: that stands
        self._audit.write(event)
        # the reason may hold what the cluster or AWS said (users, hosts, ARNs): it stays in the audit trail
        self._requesters.tell(
            ask.slack_user,
            f"Your certificate request on {ask.cluster} could not be sent to the cluster; its administrators can see "
            f"why in csrgate's audit trail (ask {ask.ask_id}).",
        )
        return ask


def link_to_ask(
    asks: AskStore, cluster: ClusterConfig, csr: CsrObject, request_id: str, clock: Clock
) -> tuple[CertificateAsk | None, AuditEvent | None]:
    """The ask a newly received CSR was created for, linked to it now, and the event that says so; (None, event) when
    the CSR claims an ask it is not the CSR of; (None, None) when it claims none."""
    ask_id = csr.annotations.get(ASK_ANNOTATION)
    if ask_id is None:
        return None, None
    ask = asks.get(ask_id) if 0 < len(ask_id) <= 64 else None
    refused: str | None = "the ask changed while it was being linked"
    for _ in range(2):  # once more after a conflict: the worker may have recorded the CSR's uid meanwhile
        refused = "no such ask" if ask is None else _why_not(ask, cluster, csr, request_id)
        if ask is None or refused is not None:
            break
        if ask.state is AskState.LINKED:  # linked by an earlier delivery of this same event
            return ask, None
        event = _event(ask, "csr.linked", csr, request_id, clock, slack_user=ask.slack_user)
        try:
            return asks.move(ask, AskState.LINKED, event, {"csr_uid": csr.uid, "request_id": request_id}), event
        except Conflict:
            ask = asks.get(ask_id)
    details = {"claimed_ask": ask_id[:64], "reason": refused}
    at = clock()
    return None, AuditEvent(
        "csr.ask_link_refused", request_id, cluster.name, csr.name, csr.uid, Actor.SERVICE, at, details
    )


def _why_not(ask: CertificateAsk, cluster: ClusterConfig, csr: CsrObject, request_id: str) -> str | None:
    """Why this CSR is not the one csrgate created for the ask, or None when it is."""
    if ask.cluster != cluster.name or ask.csr_name != csr.name:
        return "the ask is for another cluster or CSR name"
    if ask.spec_digest != csr.asked_digest:
        return "the CSR asks for something other than what was asked for in Slack"
    if ask.csr_uid not in (None, csr.uid):
        return "the ask is linked to another CSR"
    if ask.state is AskState.LINKED and ask.request_id == request_id:
        return None
    if ask.state not in _LINKABLE:
        return f"the ask is {ask.state.value}"
    return None


def _event(
    ask: CertificateAsk, name: str, csr: CsrObject, request_id: str, clock: Clock, **details: object
) -> AuditEvent:
    linked = replace(ask, csr_uid=csr.uid, request_id=request_id)
    return AuditEvent.about_ask(linked, name, Actor.SERVICE, clock(), **details)
