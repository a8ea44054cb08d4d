"""Optional language model: OpenAI-compatible streaming chat whose tokens flow straight into a speaking turn.

``POST {base_url}/chat/completions`` with ``stream: true`` answers server-sent events (``data: {json}`` lines, each
with ``choices[0].delta.content``, ended by ``data: [DONE]``). A stream that ends without ``[DONE]`` was cut off.

:class:`Conversation` keeps the history. When a reply is interrupted (the user stops it, or the stream breaks), the
history keeps what was actually heard, cut at the last word that started playing when the voice gives word marks,
and marks it interrupted; the model then sees that text followed by ``[interrupted]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

import httpx

from app.speech.events import SpeechProviderError
from app.speech.player import Speaker, Turn
from app.speech.providers import ApiKey, error_snippet, new_request_id, request_headers
from app.speech.redaction import LIBRARY_LOGGERS, guard, redact

log = logging.getLogger("app.speech.chat")

INTERRUPTED_NOTE = " [interrupted]"


class ChatError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ChatSettings:
    base_url: str
    model: str
    system_prompt: str = "You are a friendly desktop companion. Answer briefly, in plain spoken sentences."
    timeout_s: float = 30.0
    history_turns: int = 20
    """Exchanges (a user message and its reply) kept in the history; older ones are dropped, the system prompt stays."""
    history_chars: int = 16_000
    """At most this much text of the history is sent; the latest message is always kept."""


@dataclass
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str
    interrupted: bool = False

    def for_request(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content + (INTERRUPTED_NOTE if self.interrupted else "")}


class ChatClient:
    def __init__(self, http: httpx.AsyncClient, settings: ChatSettings, api_key: ApiKey | None) -> None:
        self._http = http
        self.settings = settings
        self._api_key = api_key
        guard(log, *LIBRARY_LOGGERS)

    async def stream_reply(self, messages: list[ChatMessage]) -> AsyncGenerator[str, None]:
        """The reply's text pieces as they arrive; raises :class:`ChatError` on a refusal or a broken stream."""
        request_id = new_request_id("chat")
        headers = request_headers(request_id, self._api_key, Accept="text/event-stream")
        body = {
            "model": self.settings.model,
            "stream": True,
            "messages": [message.for_request() for message in messages],
        }
        url = f"{self.settings.base_url.rstrip('/')}/chat/completions"
        log.info("[%s] POST %s (%d messages)", request_id, redact(url), len(messages))
        try:
            async with self._http.stream(
                "POST", url, json=body, headers=headers, timeout=httpx.Timeout(self.settings.timeout_s)
            ) as response:
                if response.status_code >= 400:
                    raw = (await response.aread())[:2000].decode("utf-8", "replace")
                    reason = error_snippet(raw, self._api_key, response.reason_phrase)
                    log.warning("[%s] refused: %d %s", request_id, response.status_code, reason)
                    raise ChatError(f"http-{response.status_code}", f"{reason} (request {request_id})")
                async for piece in self._events(response, request_id):
                    yield piece
        except httpx.TimeoutException:
            message = f"no answer within {self.settings.timeout_s:g} s (request {request_id})"
            raise ChatError("timeout", message) from None
        except httpx.TransportError as error:
            raise ChatError(
                "stream-dropped", f"the connection broke: {type(error).__name__} (request {request_id})"
            ) from None

    async def _events(self, response: httpx.Response, request_id: str) -> AsyncIterator[str]:
        lines = response.aiter_lines()
        async for line in lines:
            if not line.startswith("data:"):
                continue  # comments, event names, blank separators
            data = line[5:].strip()
            if data == "[DONE]":
                log.info("[%s] done", request_id)
                await _drain(lines)
                return
            try:
                chunk = json.loads(data)
                content = chunk["choices"][0]["delta"].get("content") if chunk.get("choices") else None
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                log.warning("[%s] skipped a malformed event", request_id)
                continue
            if content:
                yield str(content)
        raise ChatError("stream-dropped", f"the reply stopped before it was complete (request {request_id})")


@dataclass
class ReplyOutcome:
    received: str
    spoken: str
    interrupted: bool
    error: ChatError | None = None


async def _drain(lines: AsyncIterator[str]) -> None:
    """Read to the end of the body (servers close it right after ``[DONE]``), so httpx's stream generators finish
    on this loop instead of being finalised later by the garbage collector, outside any running loop (which fails
    under qasync). A server that keeps the stream open gets a second, then the response is closed anyway."""
    with contextlib.suppress(TimeoutError, httpx.HTTPError):
        async with asyncio.timeout(1.0):
            async for _line in lines:
                pass


@dataclass
class Conversation:
    """History plus the speaking of each reply as it streams."""

    chat: ChatClient
    speaker: Speaker
    history: list[ChatMessage] = field(default_factory=list)
    _reply_task: asyncio.Task[ReplyOutcome] | None = None

    def messages(self) -> list[ChatMessage]:
        return [ChatMessage("system", self.chat.settings.system_prompt), *self.history]

    async def reply(self, user_text: str) -> ReplyOutcome:
        """Ask, speak the answer as it streams, and return what was received and heard.

        Cancelling the caller interrupts the reply like :meth:`interrupt` (the history keeps what was heard)."""
        task = asyncio.create_task(self._reply(user_text))
        self._reply_task = task
        try:
            return await asyncio.shield(task)  # interrupt() cancels the task, and reply() still returns its outcome
        except asyncio.CancelledError:
            await self._stop(task)
            raise
        finally:
            if self._reply_task is task:
                self._reply_task = None

    async def interrupt(self) -> None:
        """The user cuts the reply short: silence now; the history keeps what was heard."""
        task = self._reply_task
        if task is None:
            await self.speaker.abort_turn("user-interrupt")
        else:
            await self._stop(task)

    async def _stop(self, task: asyncio.Task[ReplyOutcome]) -> None:
        await self.speaker.abort_turn("user-interrupt")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _reply(self, user_text: str) -> ReplyOutcome:
        try:
            turn = await self.speaker.begin_turn()
        except SpeechProviderError as failure:  # the voice cannot speak: nothing is asked, the history is unchanged
            log.warning("no reply: the voice failed: %s", failure.message)
            return ReplyOutcome("", "", False, ChatError(failure.code, f"the voice cannot speak: {failure.message}"))
        self._add(ChatMessage("user", user_text))
        received = ""
        error: ChatError | None = None
        try:
            async with contextlib.aclosing(self.chat.stream_reply(self.messages())) as pieces:
                async for piece in pieces:
                    received += piece
                    await turn.append_text(piece)
        except ChatError as failure:
            error = failure
        except asyncio.CancelledError:
            return self._remember(turn, received, interrupted=True, error=None)
        await turn.finish()
        try:
            stats = await turn.wait()
        except asyncio.CancelledError:
            return self._remember(turn, received, interrupted=True, error=error)
        return self._remember(turn, received, interrupted=error is not None or stats.cancelled, error=error)

    def _add(self, message: ChatMessage) -> None:
        """Appends, then drops the oldest whole exchanges beyond the settings' bounds; the latest one always stays."""
        self.history.append(message)
        settings = self.chat.settings
        latest = max((i for i, m in enumerate(self.history) if m.role == "user"), default=len(self.history) - 1)

        def over(kept: list[ChatMessage]) -> bool:
            users = sum(1 for m in kept if m.role == "user")
            return users > settings.history_turns or sum(len(m.content) for m in kept) > settings.history_chars

        drop = 0
        while drop < latest and over(self.history[drop:]):
            drop += 1
            while drop < latest and self.history[drop].role != "user":  # the history starts with a question
                drop += 1
        del self.history[:drop]

    def _remember(self, turn: Turn, received: str, interrupted: bool, error: ChatError | None) -> ReplyOutcome:
        spoken = self.speaker.spoken_text(turn) if interrupted else received.strip()
        if spoken or error is None:  # a refused request leaves no empty assistant message behind
            self._add(ChatMessage("assistant", spoken, interrupted=interrupted))
        return ReplyOutcome(received, spoken, interrupted, error)
