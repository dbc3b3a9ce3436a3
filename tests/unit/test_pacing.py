"""Adaptive prefill sizing."""

from __future__ import annotations

from mlx_serving.engine.pacing import PrefillPacer


def test_full_chunks_when_nothing_decodes_or_when_off() -> None:
    pacer = PrefillPacer(max_chunk=2048, min_chunk=32, target_step_ms=100, adaptive=True)
    assert pacer.plan(decoding=0, prefilling=3) == 2048
    off = PrefillPacer(max_chunk=2048, min_chunk=32, target_step_ms=100, adaptive=False)
    assert off.plan(decoding=4, prefilling=1) == 2048


def test_chunks_follow_the_measured_speeds() -> None:
    pacer = PrefillPacer(max_chunk=2048, min_chunk=32, target_step_ms=100, adaptive=True)
    assert pacer.plan(decoding=2, prefilling=1) == 32  # nothing measured yet: start small
    pacer.observe(0.020, prefill_tokens=0, decoded=True)  # a decode step takes 20 ms
    pacer.observe(0.020 + 0.032, prefill_tokens=32, decoded=True)  # 1,000 prompt tokens/s
    # 80 ms left for prefill at 1,000 tokens/s: 80 tokens, rounded down to 64.
    assert pacer.plan(decoding=2, prefilling=1) == 64
    assert pacer.plan(decoding=2, prefilling=2) == 32  # shared by two prompts
    assert pacer.decode_step_ms == 20.0 and pacer.prefill_tokens_per_s == 1000.0


def test_a_slow_decode_step_still_leaves_the_minimum_chunk() -> None:
    pacer = PrefillPacer(max_chunk=512, min_chunk=16, target_step_ms=10, adaptive=True)
    pacer.observe(0.050, prefill_tokens=0, decoded=True)
    pacer.observe(0.060, prefill_tokens=100, decoded=False)
    assert pacer.plan(decoding=1, prefilling=1) == 16
    fast = PrefillPacer(max_chunk=512, min_chunk=16, target_step_ms=1000, adaptive=True)
    fast.observe(0.001, prefill_tokens=1000, decoded=False)
    assert fast.plan(decoding=1, prefilling=1) == 512
