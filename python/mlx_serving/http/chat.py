"""One chat generation as a sequence of parts, the same for both APIs:
text (answer or thinking) and tool calls, each call a start (id, name)
followed by pieces of its arguments' JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..api.messages import TokenOut
from .backend import ChatFormat
from .errors import HttpError
from .generation import Generation, new_id
from .output import OutputSplitter, Text, ToolCallOut
from .tools import ToolPlan


@dataclass
class CallStart:
    id: str
    name: str


@dataclass
class CallArguments:
    text: str


Piece = Text | CallStart | CallArguments


@dataclass
class Batch:
    pieces: list[Piece]
    tokens: list[TokenOut]  # the tokens that made them (for logprobs)


async def pieces(generation: Generation, plan: ToolPlan, chat_format: ChatFormat
                 ) -> AsyncIterator[Batch]:
    splitter = (OutputSplitter(chat_format, plan.template_tools if plan.parses_output else None)
                if not plan.forced else None)
    named = plan.named
    forced_text: list[str] = []
    if named is not None:  # the whole output is its arguments: they stream as they come
        yield Batch([CallStart(new_id("call_"), named)], [])
    async for tokens in generation.tokens():
        text = "".join(token.text for token in tokens)
        if splitter is not None:
            yield Batch(_expand(splitter.feed(text)), tokens)
        elif named is not None:
            yield Batch([CallArguments(text)] if text else [], tokens)
        else:
            forced_text.append(text)
            yield Batch([], tokens)
    if splitter is not None:
        yield Batch(_expand(splitter.finish()), [])
    elif named is None:
        text = "".join(forced_text)
        if generation.outcome.finish_reason == "length":
            raise HttpError(400, "the token budget ran out before the forced tool call was "
                            "complete; raise max_tokens", "max_tokens", "LENGTH")
        yield Batch(_expand([plan.forced_call(text)]), [])


def _expand(parts: list[Text | ToolCallOut]) -> list[Piece]:
    out: list[Piece] = []
    for part in parts:
        if isinstance(part, ToolCallOut):
            out += [CallStart(part.id, part.name), CallArguments(part.arguments)]
        else:
            out.append(part)
    return out


@dataclass
class Assembled:
    """A whole (non-streamed) answer."""

    content: str = ""
    reasoning: str = ""
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, arguments)
    tokens: list[TokenOut] = field(default_factory=list)

    def add(self, batch: Batch) -> None:
        self.tokens.extend(batch.tokens)
        for piece in batch.pieces:
            if isinstance(piece, Text):
                if piece.kind == "content":
                    self.content += piece.text
                else:
                    self.reasoning += piece.text
            elif isinstance(piece, CallStart):
                self.calls.append((piece.id, piece.name, ""))
            else:
                call_id, name, arguments = self.calls[-1]
                self.calls[-1] = (call_id, name, arguments + piece.text)


async def assemble(generation: Generation, plan: ToolPlan, chat_format: ChatFormat
                   ) -> Assembled:
    answer = Assembled()
    async for batch in pieces(generation, plan, chat_format):
        answer.add(batch)
    return answer
