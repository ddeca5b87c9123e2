"""The Slack Web API client: retries that fit the caller's time, and Slack's errors in csrgate's three outcomes."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackObjectFormationError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from csrgate.domain.errors import PermanentFailure, RetryLater

MAX_INLINE_RETRY_AFTER_SECONDS = 5  # longer waits go back to the queue rather than hold a request open
_RETRYABLE_ERRORS = {"ratelimited", "service_unavailable", "internal_error", "fatal_error", "request_timeout"}


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Retries a 429 in place only when Slack asks for a short wait; a long Retry-After is left to the queue."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        retry_after = (response.headers.get("retry-after") or response.headers.get("Retry-After") or ["1"])[0]
        return retry_after.isdigit() and int(retry_after) <= MAX_INLINE_RETRY_AFTER_SECONDS


def web_client(token: str, base_url: str | None = None, timeout: int = 5, *, hurried: bool = False) -> WebClient:
    """A WebClient that retries connection errors, short rate limits and Slack's 5xx answers once each.

    A `hurried` client (inside Slack's three-second interaction budget) retries only a failed connection.
    """
    handlers: list[RetryHandler] = [ConnectionErrorRetryHandler(max_retry_count=1)]
    if not hurried:
        handlers += [BoundedRateLimitRetryHandler(max_retry_count=1), ServerErrorRetryHandler(max_retry_count=1)]
    client = WebClient(token=token, base_url=base_url or WebClient.BASE_URL, timeout=timeout, retry_handlers=handlers)
    return client


def call_slack(client: WebClient, method: str, **arguments: Any) -> Any:
    """A Web API call, its errors translated: RetryLater for rate limits, 5xx and the network, else PermanentFailure.

    A message slack_sdk cannot form (blocks or a view breaking Block Kit's rules) is never sent: it is a permanent
    failure with the reason `invalid-message`, not an unreachable Slack, since sending it again fails the same way.
    """
    try:
        return getattr(client, method)(**arguments)
    except SlackObjectFormationError as exc:
        raise PermanentFailure(f"invalid-message: {method} was not sent: {str(exc)[:200]}") from exc
    except SlackApiError as exc:
        status = exc.response.status_code
        error = str(exc.response.get("error") or f"HTTP {status}")
        if status == 429 or status >= 500 or error in _RETRYABLE_ERRORS:
            raise RetryLater(f"Slack answered {error} to {method}") from exc
        raise PermanentFailure(f"Slack refused {method}: {error}") from exc
    except (SlackClientError, OSError) as exc:
        raise RetryLater(f"Slack is unreachable: {type(exc).__name__}") from exc
