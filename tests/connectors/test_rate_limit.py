"""A system's rate limit is kept by its connector: requests are spaced, not burst."""

from connectors.http import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_requests_are_spaced_to_the_systems_limit():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)

    for _ in range(5):
        limiter.wait()

    assert clock.slept == [0.25, 0.25, 0.25, 0.25]


def test_time_already_spent_between_requests_counts():
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep)
    limiter.wait()
    clock.now += 0.4

    limiter.wait()

    assert clock.slept == [0.1]


def test_no_limit_never_waits():
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        limiter.wait()
    assert clock.slept == []
