"""The retry policy: which failures are worth another try, how long to wait, when to give up."""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime
from typing import Final

import attrs

#: Statuses retried by default (go-containerregistry's list): timeouts, rate limits, gateway errors.
RETRY_STATUSES: Final = frozenset({408, 429, 499, 500, 502, 503, 504, 522})


@attrs.frozen
class RetryPolicy:
    """An immutable retry policy, safe to share between clients and threads.

    A request is tried at most ``attempts`` times. Between tries it waits ``backoff`` seconds,
    then ``factor`` times more each time, plus up to ``jitter`` of that at random, never more than
    ``max_delay``; a ``Retry-After`` header (seconds or an HTTP date) is honoured instead when
    present. The waits of one request add up to at most ``budget`` seconds: a registry that keeps
    failing is given up on with its last error rather than waited for. A refused connection
    (nothing listens at the address) is tried at most ``refused_attempts`` times, ``refused_delay``
    seconds apart: a port that is closed now is rarely open a moment later, and the user should
    hear so at once. Only requests whose body can be sent again are retried here; uploads of
    streams are retried whole by the writer, with the same policy.
    """

    attempts: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    backoff: float = 0.5
    factor: float = 3.0
    jitter: float = 0.1
    max_delay: float = 15.0
    budget: float = 30.0
    statuses: frozenset[int] = attrs.field(default=RETRY_STATUSES, converter=frozenset)
    refused_attempts: int = attrs.field(default=2, validator=attrs.validators.ge(1))
    refused_delay: float = 0.1

    def retries_status(self, status: int) -> bool:
        """Whether an answer with this status is worth another try."""
        return status in self.statuses

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """How long to wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        asked = parse_retry_after(retry_after) if retry_after else None
        if asked is not None:
            return min(asked, self.max_delay)
        base = self.backoff * self.factor ** (attempt - 1)
        return min(base + random.uniform(0, self.jitter * base), self.max_delay)  # noqa: S311

    @classmethod
    def never(cls) -> RetryPolicy:
        """One try and no retry."""
        return cls(attempts=1)


def parse_retry_after(value: str) -> float | None:
    """``Retry-After`` as seconds from now: an integer, or an HTTP date (``None`` if neither)."""
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "³", a digit to isdigit and none to float
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
