"""A system's rate limit kept across every worker process and machine: a token bucket in Redis.

``http.RateLimiter`` spaces the requests of one process. With several RQ workers, on one machine
or many, a system would see the sum of their rates; ``RedisTokenBucket`` keeps one bucket per
system in Redis instead, which every process draws from, so the sum stays at the system's rate.
"""

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from redis.exceptions import RedisError

from .http import RateLimiter

logger = logging.getLogger(__name__)


class Limiter(Protocol):
    """What a connector calls before each request: returns once the request may go."""

    def wait(self) -> None: ...


# One atomic step (a Lua script runs alone in Redis): refill the bucket for the time since it
# was last touched, at ARGV[1] tokens a second up to ARGV[2], and take a token. A bucket without
# one goes into debt instead, so each caller reserves the next free moment, in the order they
# came, and is told how long to sleep until then: no polling, and no caller starves. Time is
# Redis's own, so the workers' clocks need not agree. The bucket expires once it would be full
# again, leaving nothing behind for an idle system. Returns the wait in seconds as text (Redis
# would cut a Lua number down to an integer).
TAKE_TOKEN = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(capacity, tokens + (now - at) * rate)
  at = now
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'at', string.format('%.17g', at))
local wait = 0
if tokens < 0 then wait = -tokens / rate end
redis.call('PEXPIRE', KEYS[1], math.ceil((wait + capacity / rate) * 1000) + 1000)
return string.format('%.17g', wait)
"""


class RedisTokenBucket:
    """At most ``per_second`` requests a second, with bursts of at most ``burst``, summed over
    every process that builds a bucket with the same ``key`` on the same Redis. ``wait()``
    sleeps exactly until the caller's token is due.

    ``burst`` defaults to 1: requests are spaced evenly, as ``http.RateLimiter`` spaces them,
    because a system that allows N a second often counts them over any second, not per clock
    second. When Redis cannot be reached, requests are spaced by this process alone (logged),
    rather than failing records for want of a limiter."""

    def __init__(
        self,
        client: Any,
        key: str,
        per_second: float,
        *,
        burst: int = 1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("A token bucket needs a positive rate and a burst of at least 1.")
        self.key, self.per_second, self.burst = key, float(per_second), burst
        self._take = client.register_script(TAKE_TOKEN)
        self._sleep = sleep
        self._fallback = RateLimiter(per_second, sleep=sleep)
        self._redis_down = False

    @property
    def interval(self) -> float:
        """The spacing of requests when they come faster than the rate allows."""
        return 1.0 / self.per_second

    def wait(self) -> None:
        try:
            delay = float(self._take(keys=[self.key], args=[self.per_second, self.burst]))
        except RedisError as exc:
            if not self._redis_down:
                logger.warning(
                    "Rate limit %s: Redis cannot be reached (%s); spacing this process's "
                    "requests alone until it can.",
                    self.key,
                    exc,
                )
                self._redis_down = True
            self._fallback.wait()
            return
        if self._redis_down:
            logger.info("Rate limit %s: Redis is back; sharing the bucket again.", self.key)
            self._redis_down = False
        if delay > 0:
            self._sleep(delay)
