"""Unit tests of the client's parts that need no process: NDJSON framing,
classifying what the runtime writes, param folding, flow control and the
JSON-RPC client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mlx_serving.api.messages import StreamEnd, StreamProgress
from mlx_serving.client.chunks import ChunkParams, StreamFailure, TokenChunk, TopLogprob
from mlx_serving.client.errors import EngineError
from mlx_serving.client.flow import FlowControl
from mlx_serving.client.incoming import Error, Invalid, Notification, Result, parse_line
from mlx_serving.client.lines import LineSplitter
from mlx_serving.client.names import canonical_method, wire_params
from mlx_serving.client.rpc import RpcClient
from mlx_serving.client.supervisor import RestartPolicy

# --- LineSplitter -------------------------------------------------------------


def _splitter(limit: int = 100) -> tuple[LineSplitter, list[bytes], list[int]]:
    lines: list[bytes] = []
    oversized: list[int] = []
    return LineSplitter(limit, lines.append, oversized.append), lines, oversized


def test_lines_split_across_reads_and_a_multibyte_character_split_between_them_come_whole() -> None:
    splitter, lines, _ = _splitter()
    word = "héllo".encode()
    splitter.push(b'{"a":1}\n{"b":"' + word[:2])
    splitter.push(word[2:] + b'"}\r\n\n  \n')
    splitter.push(b"last")
    splitter.end()
    assert lines == [b'{"a":1}', b'{"b":"' + word + b'"}', b"last"]
    assert lines[1].decode() == '{"b":"héllo"}'


def test_a_line_over_the_limit_is_dropped_as_it_streams_by_and_the_next_one_comes() -> None:
    splitter, lines, oversized = _splitter(limit=10)
    splitter.push(b"x" * 8)
    splitter.push(b"x" * 8)
    splitter.push(b"x" * 8 + b"\nok\n")
    assert (lines, oversized) == ([b"ok"], [24])


# --- incoming -------------------------------------------------------------------


def test_what_the_runtime_writes_is_sorted_without_trusting_it() -> None:
    assert parse_line(b'{"jsonrpc":"2.0","id":1,"result":null}') == [Result(1, None)]
    assert parse_line(b'{"jsonrpc":"2.0","id":2,"error":{"code":-32001,"message":"m","data":{"code":"X"}}}') == [
        Error(2, -32001, "m", {"code": "X"})]
    assert parse_line(b'{"jsonrpc":"2.0","method":"stream/end","params":{}}') == [Notification("stream/end", {})]
    batch = parse_line(b'[{"jsonrpc":"2.0","id":1,"result":1},{"jsonrpc":"2.0","id":2,"result":2}]')
    assert batch == [Result(1, 1), Result(2, 2)]
    for line, reason in [(b"nope", "not JSON"), (b"[]", "empty array"), (b'{"id":1}', "jsonrpc"),
                         (b'"x"', "not a JSON object"),
                         (b'{"jsonrpc":"2.0","id":1,"method":"x"}', "request from the runtime"),
                         (b'{"jsonrpc":"2.0","id":true,"result":1}', "neither")]:
        [invalid] = parse_line(line)
        assert isinstance(invalid, Invalid) and reason in invalid.reason
    [both] = parse_line(b'{"jsonrpc":"2.0","id":3,"result":1,"error":{"code":1,"message":"m"}}')
    assert isinstance(both, Invalid) and both.id == 3, "a broken answer names its call"
    [broken] = parse_line(b'{"jsonrpc":"2.0","id":4,"error":{"code":"x"}}')
    assert isinstance(broken, Invalid) and broken.id == 4


# --- names ------------------------------------------------------------------------


def test_params_fold_onto_the_wire_names_like_the_runtime_does() -> None:
    assert wire_params("generate", {"maxTokens": 3, "stream": False, "user_id": "u", "image": "a.png",
                                    "guidance": {"mode": "xml", "schema": "<!ELEMENT a (#PCDATA)>",
                                                 "maxTextLength": 5}}, "t") == {
        "max_tokens": 3, "streaming": False, "request_key": "u", "images": "a.png",
        "guidance": {"mode": "xml", "schema": "<!ELEMENT a (#PCDATA)>", "max_text_length": 5}}
    # model/load takes `model_id` as itself beside `model`; alone, a legacy client means the path.
    assert wire_params("model/load", {"model": "p", "modelId": "x"}, "t") == {"model": "p", "model_id": "x"}
    assert wire_params("model/load", {"model_id": "p"}, "t") == {"model": "p"}
    assert wire_params("model/isDraftCompatible", {"primary_id": "a", "draft_id": "b"}, "t") == {
        "model": "a", "draft_model": "b"}
    # A JSON Schema's own names are the caller's data: they go out as written.
    schema = {"properties": {"firstName": {"type": "string"}}}
    assert wire_params("generate", {"guidance": {"mode": "json_schema", "schema": schema}}, "t")["guidance"][
        "schema"] == schema
    assert wire_params("some/newMethod", {"fooBar": 1, "skip": None}, "t") == {"foo_bar": 1}
    assert (canonical_method("load_model"), canonical_method("check_draft")) == ("model/load",
                                                                                 "model/isDraftCompatible")


def test_two_spellings_of_one_param_must_agree() -> None:
    assert wire_params("generate", {"max_tokens": 3, "maxTokens": 3}, "t") == {"max_tokens": 3}
    with pytest.raises(EngineError) as refused:
        wire_params("generate", {"max_tokens": 3, "maxTokens": 4}, "generate")
    assert refused.value.code == "INVALID_OPTIONS" and "`max_tokens` and `maxTokens`" in refused.value.message


def test_the_restart_backoff_grows_to_its_bound() -> None:
    policy = RestartPolicy(initial_delay=0.2, factor=2, max_delay=1)
    assert [policy.delay(attempt) for attempt in (1, 2, 3, 4)] == [0.2, 0.4, 0.8, 1]


# --- FlowControl --------------------------------------------------------------------


class _Member:
    def __init__(self) -> None:
        self.asked: list[bool] = []
        self.answers: list[Callable[[bool], None]] = []

    def behind(self, behind: bool, answered: Callable[[bool], None]) -> None:
        self.asked.append(behind)
        self.answers.append(answered)


def test_a_stream_is_paused_past_the_mark_and_resumed_at_half_of_it() -> None:
    pipe: list[bool] = []
    flow = FlowControl(10, pipe.append)
    member = _Member()
    flow.report(member, 10)
    assert member.asked == [] and pipe == []
    flow.report(member, 11)
    assert member.asked == [True] and pipe == [True], "the pipe holds until the runtime confirms the pause"
    flow.report(member, 12)
    assert member.asked == [True], "asked once per episode"
    member.answers[0](True)
    assert pipe == [True, False] and flow.streams == (1, 1), "paused on the runtime: the pipe goes on"
    flow.report(member, 5)
    assert member.asked == [True, False] and flow.streams == (0, 1)


def test_a_refused_pause_holds_the_pipe_except_while_a_consumer_waits() -> None:
    pipe: list[bool] = []
    flow = FlowControl(4, pipe.append)
    member = _Member()
    flow.report(member, 5)
    member.answers[0](False)  # a runtime without generate/pause
    assert pipe == [True]
    flow.waiting(True)
    assert pipe == [True, False], "never paused while a consumer waits for a chunk"
    flow.waiting(False)
    assert pipe == [True, False, True]
    flow.release(member)
    assert pipe == [True, False, True, False] and flow.streams == (0, 1)


def test_a_late_answer_for_an_earlier_episode_does_not_release_a_later_one() -> None:
    pipe: list[bool] = []
    flow = FlowControl(4, pipe.append)
    member = _Member()
    flow.report(member, 5)
    flow.report(member, 1)  # caught up before the runtime answered
    flow.report(member, 5)  # behind again: a second episode
    member.answers[0](True)  # the first episode's answer, late
    assert pipe[-1] is True, "the second episode still holds the pipe"
    member.answers[2](True)
    assert pipe[-1] is False


# --- RpcClient -----------------------------------------------------------------------


class _Wire:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.paused: list[bool] = []

    def send(self, data: bytes) -> bool:
        self.sent.append(data)
        return True

    def pause(self) -> None:
        self.paused.append(True)

    def resume(self) -> None:
        self.paused.append(False)


class _Handlers:
    def __init__(self) -> None:
        self.errors: list[EngineError] = []
        self.notifications: list[tuple[str, Any]] = []

    def protocol_error(self, error: EngineError) -> None:
        self.errors.append(error)

    def notification(self, method: str, params: Any) -> None:
        self.notifications.append((method, params))


class _Listener:
    def __init__(self) -> None:
        self.got: list[Any] = []

    def chunk(self, params: ChunkParams) -> None:
        self.got.append(params)

    def progress(self, params: StreamProgress) -> None:
        self.got.append(params)

    def end(self, params: StreamEnd) -> None:
        self.got.append(params)

    def error(self, error: EngineError, failed: StreamFailure | None) -> None:
        self.got.append((error.code, failed))


def test_a_chunk_line_decodes_in_one_typed_pass_whatever_its_key_order() -> None:
    client, _, handlers = _client()
    listener = _Listener()
    client.open_stream("s", listener)
    client.handle_line(b'{"params":{"tokens":[{"id":1,"text":"a","logprob":-0.5,"from_draft":true},'
                       b'{"text":"","id":2,"top_logprobs":[{"logprob":-0.1,"text":"b","id":3}],"logprob":-2.0}],'
                       b'"stream_id":"s"},"method":"stream/chunk","jsonrpc":"2.0"}')
    client.handle_line(b'{"jsonrpc":"2.0","method":"stream/chunk","params":{"stream_id":"other","tokens":[]}}')
    assert listener.got == [ChunkParams("s", [TokenChunk("a", 1, -0.5, True),
                                              TokenChunk("", 2, -2.0, top_logprobs=[TopLogprob("b", 3, -0.1)])])]
    assert handlers.errors == [], "a stream nobody reads any more is no protocol error"


def _client() -> tuple[RpcClient, _Wire, _Handlers]:
    wire, handlers = _Wire(), _Handlers()
    return RpcClient(wire, handlers), wire, handlers


def test_calls_settle_with_their_answers_and_errors_by_id() -> None:
    client, wire, _ = _client()
    first, second = client.request("a", {}), client.request("b", {"x": 1})
    assert wire.sent[1] == b'{"jsonrpc":"2.0","id":2,"method":"b","params":{"x":1}}\n'
    client.handle_line(b'{"jsonrpc":"2.0","id":2,"error":{"code":-32001,"message":"gone","data":{"code":"MODEL_NOT_LOADED"}}}')
    client.handle_line(b'{"jsonrpc":"2.0","id":1,"result":{"ok":true}}')
    assert client.wait(first, 1) == {"ok": True}
    with pytest.raises(EngineError) as failed:
        client.wait(second, 1)
    assert (failed.value.code, failed.value.rpc_code) == ("MODEL_NOT_LOADED", -32001)
    assert client.pending_count == 0


def test_a_call_that_times_out_is_expired_and_its_late_answer_dropped() -> None:
    client, _, handlers = _client()
    call = client.request("slow", {})
    with pytest.raises(EngineError) as late:
        client.wait(call, 0.01)
    assert late.value.code == "TIMEOUT" and client.pending_count == 0
    client.handle_line(b'{"jsonrpc":"2.0","id":1,"result":1}')
    assert handlers.errors == [], "a late answer is no protocol error"
    client.handle_line(b'{"jsonrpc":"2.0","id":99,"result":1}')
    assert "not pending" in handlers.errors[0].message


def test_closing_fails_every_pending_call_and_open_stream_and_later_calls() -> None:
    client, _, _ = _client()
    listener = _Listener()
    client.open_stream("s", listener)
    call = client.request("a", {})
    client.close(EngineError("RUNTIME_EXITED", "died"))
    with pytest.raises(EngineError, match="died"):
        client.wait(call, 1)
    assert listener.got == [("RUNTIME_EXITED", None)]
    with pytest.raises(EngineError, match="died"):
        client.wait(client.request("b", {}), 1)


def test_stream_notifications_reach_their_listener_typed_and_malformed_ones_are_protocol_errors() -> None:
    client, _, handlers = _client()
    listener = _Listener()
    client.open_stream("s", listener)
    client.handle_line(b'{"jsonrpc":"2.0","method":"stream/chunk","params":{"stream_id":"s","tokens":[{"id":5,"text":"a"}]}}')
    client.handle_line(b'{"jsonrpc":"2.0","method":"stream/chunk","params":{"stream_id":"s","tokens":"no"}}')
    client.handle_line(b'{"jsonrpc":"2.0","method":"stream/error","params":{"stream_id":"s","model":"m",'
                       b'"error":{"code":-32014,"message":"boom","data":{"code":"GENERATION_FAILED"}}}}')
    client.handle_line(b'{"jsonrpc":"2.0","method":"qos/violation","params":{"slo":"x"}}')
    assert isinstance(listener.got[0], ChunkParams) and listener.got[0].tokens == [TokenChunk("a", 5)]
    assert listener.got[1] == ("GENERATION_FAILED", StreamFailure("s", "m", None))
    assert [error.message for error in handlers.errors] == ["the runtime wrote a malformed stream/chunk for stream s"]
    assert handlers.notifications == [("qos/violation", {"slo": "x"})]


def test_reading_pauses_for_backpressure_only_while_no_call_waits_for_its_answer() -> None:
    client, wire, _ = _client()
    client.set_backpressure(True)
    assert wire.paused == [True]
    call = client.request("a", {})
    assert wire.paused == [True, False], "the answer may sit behind the tokens in the pipe"
    client.request("generate/pause", {}, awaited=False)
    assert wire.paused == [True, False], "nobody waits for a pause's answer"
    client.handle_line(b'{"jsonrpc":"2.0","id":1,"result":1}')
    assert client.wait(call, 1) == 1 and wire.paused == [True, False, True]
    client.set_backpressure(False)
    assert wire.paused[-1] is False
