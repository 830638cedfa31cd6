"""Building a connector for a System row: the edge where settings meet the outside world."""

import functools
import os
import threading

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from connectors.base import Connector
from connectors.http import RateLimiter
from connectors.ratelimit import Limiter, RedisTokenBucket
from connectors.registry import build_connector
from integration_console.catalog.models import System, auth_env_var_error

RATE_LIMIT_KEY = "integration-console:rate-limit:system:{pk}"

_local_limiters: dict[tuple[int, float], RateLimiter] = {}
_local_limiters_lock = threading.Lock()


def connector_for(system: System) -> Connector:
    """A connector for ``system``, with its token (system_token()) and the limiter that keeps
    the system's rate (rate_limiter_for())."""
    return build_connector(
        system.connector,
        base_url=system.base_url,
        token=system_token(system),
        timeout=system.timeout_seconds,
        rate_limit_per_second=system.rate_limit_per_second,
        settings=system.settings,
        limiter=rate_limiter_for(system),
    )


def system_token(system: System) -> str | None:
    """The token in the environment variable ``system`` names. A variable that
    CONNECTOR_SECRET_ENV_PATTERN does not allow is refused (ImproperlyConfigured) before it is
    read: System.clean() refuses it too, but rows written before the pattern existed, or
    without clean(), must not send another secret either."""
    problem = auth_env_var_error(system.auth_env_var)
    if problem:
        raise ImproperlyConfigured(f"{system}: {problem}")
    return os.environ.get(system.auth_env_var) if system.auth_env_var else None


def rate_limiter_for(system: System) -> Limiter | None:
    """What keeps ``system``'s requests within its rate limit, shared by every connector of the
    system that can reach it: with REDIS_URL, a token bucket in Redis that every worker process
    and machine draws from; without, one limiter per system in this process (where every job
    then runs). None when the system has no limit; a connector of its own for a system not yet
    saved, which has no key to share."""
    per_second = system.rate_limit_per_second
    if not per_second:
        return None
    if system.pk is None:
        return RateLimiter(per_second)
    if settings.REDIS_URL:
        return RedisTokenBucket(
            _redis(settings.REDIS_URL), RATE_LIMIT_KEY.format(pk=system.pk), per_second
        )
    # Keyed by the rate too: a changed limit takes effect at the next connector.
    with _local_limiters_lock:
        return _local_limiters.setdefault((system.pk, float(per_second)), RateLimiter(per_second))


@functools.cache
def _redis(url: str) -> redis.Redis:
    # One client (and connection pool) per process; redis-py opens new connections in a child
    # after a fork, as an RQ work horse is.
    return redis.Redis.from_url(url)
