"""Login throttling: an attacker on one client waits longer and longer; the owner, on another
client, signs in as usual. On the in-process counts, on Redis, and on a dead Redis (the breaker's
fallback), and through the API on PostgreSQL and SQLite. Time is a FakeClock: no sleeps."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from redis import RedisError

from app.breaker import Breaker
from app.core.config import Settings
from app.main import create_app
from app.ratelimit import Backoff, LoginThrottle
from app.runtime import _redis_client
from tests.app.helpers import FakeClock, dead_port, login, register

WINDOW = 3_600
PAIR = Backoff(free_failures=3, first_seconds=1, max_seconds=8)
CLIENT = Backoff(free_failures=6, first_seconds=1, max_seconds=8)


def test_backoff_is_free_then_doubles_up_to_its_cap() -> None:
    assert [PAIR.wait(n) for n in range(9)] == [0, 0, 0, 1, 2, 4, 8, 8, 8]
    assert PAIR.wait(10**6) == 8, "a huge count stays at the cap, with no overflow"


MakeThrottle = Callable[[FakeClock], LoginThrottle]


@pytest.fixture(params=["in-process", "redis", "redis down"])
def make_throttle(request: pytest.FixtureRequest) -> Iterator[MakeThrottle]:
    url: str | None = None
    prefix = "unused:"
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
    elif request.param == "redis down":
        url = f"redis://127.0.0.1:{dead_port()}/0"
    client = _redis_client(url, 0.5)
    breaker = Breaker("redis", 60, (RedisError,))

    def make(clock: FakeClock) -> LoginThrottle:
        return LoginThrottle(
            client,
            breaker,
            prefix=prefix,
            per_pair=PAIR,
            per_client=CLIENT,
            window_seconds=WINDOW,
            clock=clock,
        )

    yield make
    if client is not None:
        client.close()


def _fail(throttle: LoginThrottle, times: int, username: str, client: str) -> None:
    for _ in range(times):
        assert throttle.retry_after(username, client) is None
        throttle.failed(username, client)


def test_the_wait_grows_with_each_failure_after_the_free_ones(make_throttle: MakeThrottle) -> None:
    clock = FakeClock()
    throttle = make_throttle(clock)
    _fail(throttle, 3, "alice", "10.0.0.66")
    waits = []
    for _ in range(4):
        wait = throttle.retry_after("alice", "10.0.0.66")
        assert wait is not None
        waits.append(wait)
        clock.advance(wait - 0.5)
        assert throttle.retry_after("alice", "10.0.0.66") == 1, "not yet: half a second left"
        clock.advance(0.5)
        _fail(throttle, 1, "alice", "10.0.0.66")
    assert waits == [1, 2, 4, 8]
    assert throttle.retry_after("alice", "10.0.0.66") == 8, "capped"


def test_the_owner_on_another_client_is_not_slowed(make_throttle: MakeThrottle) -> None:
    clock = FakeClock()
    throttle = make_throttle(clock)
    _fail(throttle, 3, "alice", "10.0.0.66")
    for wait in (1, 2):
        clock.advance(wait)
        _fail(throttle, 1, "alice", "10.0.0.66")
    assert throttle.retry_after("alice", "10.0.0.66") == 4
    assert throttle.retry_after("alice", "192.168.1.7") is None
    assert throttle.retry_after("ALICE", "10.0.0.66") == 4, "the same account, in any case"
    assert throttle.retry_after("bob", "10.0.0.66") is None, "below the client's own count"


def test_one_client_spraying_usernames_is_slowed_by_its_own_count(
    make_throttle: MakeThrottle,
) -> None:
    clock = FakeClock()
    throttle = make_throttle(clock)
    for i in range(6):
        _fail(throttle, 1, f"guess{i}", "10.0.0.66")
    assert throttle.retry_after("someone-else", "10.0.0.66") == 1
    assert throttle.retry_after("someone-else", "10.0.0.67") is None


def test_success_forgets_the_pair_but_not_the_client(make_throttle: MakeThrottle) -> None:
    clock = FakeClock()
    throttle = make_throttle(clock)
    for i in range(4):
        _fail(throttle, 1, f"guess{i}", "10.0.0.66")
    _fail(throttle, 2, "mallory", "10.0.0.66")
    throttle.succeeded("mallory", "10.0.0.66")
    # Mallory's pair starts again from zero, but the client's six failures still count.
    assert throttle.retry_after("mallory", "10.0.0.66") == 1


def test_failures_are_forgotten_a_window_after_the_last(make_throttle: MakeThrottle) -> None:
    clock = FakeClock()
    throttle = make_throttle(clock)
    _fail(throttle, 3, "alice", "10.0.0.66")
    clock.advance(WINDOW - 1)
    assert throttle.retry_after("alice", "10.0.0.66") is None, "the wait itself has passed"
    throttle.failed("alice", "10.0.0.66")
    assert throttle.retry_after("alice", "10.0.0.66") == 2, "the count is still remembered"
    clock.advance(WINDOW)
    _fail(throttle, 3, "alice", "10.0.0.66")
    assert throttle.retry_after("alice", "10.0.0.66") == 1, "counted again from zero"


def _throttled(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"login_free_failures": 3, "login_free_failures_per_client": 100}
    )


def test_through_the_api_the_attacker_waits_longer_and_the_owner_signs_in(
    settings: Settings,
) -> None:
    clock = FakeClock()
    app = create_app(_throttled(settings), clock=clock)
    with TestClient(app, client=("10.0.0.66", 40000)) as attacker:
        owner = TestClient(app, client=("192.168.1.7", 40000))
        register(owner, "alice")
        assert [login(attacker, "alice", "wrong password").status_code for _ in range(3)] == [
            401
        ] * 3
        retry_after = []
        for _ in range(3):
            blocked = login(attacker, "alice")  # even the right password waits
            assert blocked.status_code == 429
            wait = int(blocked.headers["retry-after"])
            assert blocked.json() == {
                "detail": f"too many failed logins; try again in {wait} s",
                "errors": [],
            }
            retry_after.append(wait)
            assert login(owner, "alice").status_code == 200, "the owner is never slowed"
            clock.advance(wait)
            assert login(attacker, "alice", "wrong password").status_code == 401
        assert retry_after == [1, 2, 4]
        assert login(attacker, "alice").status_code == 429
        clock.advance(8)
        assert login(attacker, "ALICE").status_code == 200
        assert login(attacker, "alice", "wrong password").status_code == 401, "forgotten at 200"


def test_through_the_api_redis_down_still_throttles(settings: Settings) -> None:
    clock = FakeClock()
    dead = _throttled(settings).model_copy(
        update={"redis_url": f"redis://127.0.0.1:{dead_port()}/0"}
    )
    with TestClient(create_app(dead, clock=clock)) as client:
        statuses = [login(client, "nobody", "wrong password").status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]


def test_login_window_shorter_than_the_longest_wait_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match=r"TODO_LOGIN_WINDOW_SECONDS \(60\) must be at least"):
        Settings(
            database_url=settings.database_url,
            login_window_seconds=60,
            login_backoff_max_seconds=900,
        )


def test_the_429_and_its_retry_after_header_are_documented(client: TestClient) -> None:
    responses = client.get("/openapi.json").json()["paths"]["/api/v1/auth/token"]["post"][
        "responses"
    ]
    assert set(responses) == {"200", "400", "401", "413", "422", "429", "503"}
    assert set(responses["429"]["headers"]) == {"Retry-After"}
    assert responses["429"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
