"""Who people are in Slack: user profiles cached for a few minutes, user group members for one."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from slack_sdk import WebClient

from csrgate.adapters.slack.client import call_slack
from csrgate.domain.records import SlackUser

CACHE_SECONDS = 300
# Group membership decides who may approve: someone removed from an approver group must stop counting soon, so a
# click never trusts a membership list read more than this long before it.
GROUP_CACHE_SECONDS = 60
T = TypeVar("T")


class SlackPeople:
    """SlackDirectory over users.info and usergroups.users.list."""

    def __init__(
        self,
        client: Callable[[], WebClient],
        now: Callable[[], float] = time.monotonic,
        ttl: float = CACHE_SECONDS,
        group_ttl: float = GROUP_CACHE_SECONDS,
    ) -> None:
        self._client = client
        self._now = now
        self._ttl = {"user": ttl, "group": group_ttl}
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}

    def user(self, slack_id: str) -> SlackUser:
        """The user's display name and profile email (users:read, users:read.email)."""
        return self._cached("user", slack_id, lambda: _user(self._call("users_info", user=slack_id), slack_id))

    def group_members(self, group_id: str) -> frozenset[str]:
        """The members of a user group (usergroups:read), read again when the list is older than a minute."""
        return self._cached(
            "group", group_id, lambda: frozenset(self._call("usergroups_users_list", usergroup=group_id)["users"])
        )

    def _cached(self, kind: str, key: str, load: Callable[[], T]) -> T:
        hit = self._cache.get((kind, key))
        if hit is not None and self._now() - hit[0] < self._ttl[kind]:
            return hit[1]  # type: ignore[no-any-return]  # stored by this method under the same kind
        value = load()
        self._cache[(kind, key)] = (self._now(), value)
        return value

    def _call(self, method: str, **arguments: Any) -> Any:
        return call_slack(self._client(), method, **arguments)


def _user(response: Any, slack_id: str) -> SlackUser:
    user = response["user"]
    profile = user.get("profile") or {}
    name = user.get("name") or profile.get("display_name") or slack_id
    return SlackUser(slack_id=slack_id, name=str(name), email=profile.get("email") or None)
