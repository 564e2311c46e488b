"""The rate limiter's own rules: a bucket per private chat, groups and chat-less calls
left to PTB's limits, idle buckets forgotten. No timing: bucket levels are read directly."""

from __future__ import annotations

from typing import Any

from handlers.ratelimit import TrellisRateLimiter


async def call(
    limiter: TrellisRateLimiter, data: dict[str, Any], endpoint: str = "sendMessage"
) -> Any:
    async def callback() -> dict[str, Any]:
        return {"ok": data}

    return await limiter.process_request(callback, (), {}, endpoint, data, None)


def limiter(**kwargs: Any) -> TrellisRateLimiter:
    return TrellisRateLimiter(overall_max_rate=0, group_max_rate=0, **kwargs)


async def test_private_chats_get_a_bucket_with_a_small_burst() -> None:
    rl = limiter(private_burst=3)
    for _ in range(3):
        assert await call(rl, {"chat_id": 42, "text": "x"}) == {"ok": {"chat_id": 42, "text": "x"}}
    bucket = rl.private_limiter(42)
    assert not bucket.has_capacity()  # a fourth message now would wait (~1 s)
    assert rl.private_limiter(43).has_capacity()  # other chats are unaffected
    assert rl.tracked_chats == 2


async def test_groups_and_chatless_calls_are_not_private_limited() -> None:
    rl = limiter()
    await call(rl, {"chat_id": -500})
    await call(rl, {"chat_id": "@channel"})
    await call(rl, {"callback_query_id": "1"})
    assert rl.tracked_chats == 0


async def test_zero_turns_the_private_limit_off() -> None:
    rl = limiter(private_max_rate=0)
    for _ in range(10):
        await call(rl, {"chat_id": 42})
    assert rl.tracked_chats == 0


async def test_idle_buckets_are_dropped() -> None:
    rl = limiter(max_tracked_chats=3)
    for chat in (1, 2, 3):
        rl.private_limiter(chat)  # created, never used: full, nothing to remember
    busy = rl.private_limiter(3)
    await busy.acquire()
    rl.private_limiter(4)
    assert rl.tracked_chats == 2  # 1 and 2 dropped; 3 (in use) and 4 kept
    assert rl.private_limiter(3) is busy


async def test_reads_about_a_chat_take_nothing_from_its_message_limits() -> None:
    """Was: the membership check before every group send used one of the group's 20
    messages a minute, so a couple's group got 10."""
    rl = TrellisRateLimiter(overall_max_rate=0, group_max_rate=20)
    for _ in range(3):
        await call(rl, {"chat_id": -500}, "getChatMemberCount")
        await call(rl, {"chat_id": -500, "user_id": 42}, "getChatMember")
        await call(rl, {"chat_id": 42}, "getChat")
    assert rl.tracked_chats == 0
    # PTB's own per-group buckets (a private attribute, read only here; PTB is pinned)
    assert rl._group_limiters == {}
    await call(rl, {"chat_id": -500, "text": "x"})
    assert list(rl._group_limiters) == [-500]  # a message still counts
