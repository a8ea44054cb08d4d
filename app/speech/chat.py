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
import secrets
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

import httpx

from app.speech.player import Speaker, Turn
from app.speech.providers import ApiKey, error_snippet

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

    async def stream_reply(self, messages: list[ChatMessage]) -> AsyncGenerator[str, None]:
        """The reply's text pieces as they arrive; raises :class:`ChatError` on a refusal or a broken stream."""
        request_id = f"chat-{secrets.token_hex(4)}"
        headers = {"X-Request-Id": request_id, "Accept": "text/event-stream"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        body = {
            "model": self.settings.model,
            "stream": True,
            "messages": [message.for_request() for message in messages],
        }
        url = f"{self.settings.base_url.rstrip('/')}/chat/completions"
        log.info("[%s] POST %s (%d messages)", request_id, url, len(messages))
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
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue  # comments, event names, blank separators
            data = line[5:].strip()
            if data == "[DONE]":
                log.info("[%s] done", request_id)
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
        """Ask, speak the answer as it streams, and return what was received and heard."""
        self.history.append(ChatMessage("user", user_text))
        task = asyncio.create_task(self._reply())
        self._reply_task = task
        try:
            return await asyncio.shield(task)
        finally:
            self._reply_task = None

    async def interrupt(self) -> None:
        """The user cuts the reply short: silence now; the history keeps what was heard."""
        task = self._reply_task
        await self.speaker.abort_turn("user-interrupt")
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _reply(self) -> ReplyOutcome:
        turn = await self.speaker.begin_turn()
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

    def _remember(self, turn: Turn, received: str, interrupted: bool, error: ChatError | None) -> ReplyOutcome:
        spoken = self.speaker.spoken_text(turn) if interrupted else received.strip()
        if spoken or error is None:  # a refused request leaves no empty assistant message behind
            self.history.append(ChatMessage("assistant", spoken, interrupted=interrupted))
        return ReplyOutcome(received, spoken, interrupted, error)
