"""Fast checks of the client's buffering rules (no audio device, no model)."""

from __future__ import annotations

import numpy as np

from client.audioqueue import RATE, AudioQueue, Chunk
from client.streamer import FRAME, _Connection


def test_queue_is_bounded_and_drops_the_oldest_audio():
    q = AudioQueue(max_seconds=1.0)
    for i in range(30):
        q.put(np.full(RATE // 10, i, np.float32))
    assert q.seconds <= 1.0
    first = q.get(RATE // 10, timeout=0)
    assert first.samples[0] == 20 and first.start == 20 * RATE // 10  # indices keep counting across drops
    assert q.dropped_samples == 20 * RATE // 10


def test_queue_merges_only_contiguous_audio_and_replays_in_front():
    q = AudioQueue()
    q.put(np.ones(100, np.float32))
    q.put(np.ones(100, np.float32))
    assert (c := q.get(1000, timeout=0)).start == 0 and len(c.samples) == 200
    q.put(np.zeros(50, np.float32))
    q.push_front([Chunk(150, np.ones(50, np.float32))])
    replayed = q.get(1000, timeout=0)
    assert replayed.start == 150 and len(replayed.samples) == 100  # replay + new audio are contiguous
    q.close()
    assert q.get(1000, timeout=0) is None and q.drained()


def test_replay_starts_at_the_last_final_on_the_vad_frame_grid():
    conn = _Connection(ws=None, base=1000, on_final=lambda m, b: None)
    conn.acked = 1000 + 3 * FRAME
    conn.sent.extend([Chunk(1000, np.zeros(2000, np.float32)), Chunk(3000, np.zeros(2000, np.float32))])
    replay = conn.unacknowledged(replay_cap=RATE * 60)
    assert replay[0].start == 1000 + 3 * FRAME and replay[-1].end == 5000
    capped = conn.unacknowledged(replay_cap=1000)
    assert (capped[0].start - 1000) % FRAME == 0 and capped[-1].end - capped[0].start <= 1000 + FRAME


def test_capture_gain_scales_before_the_queue_and_clips_at_full_scale():
    from client.capture import MicCapture
    from dsp.stream_resample import StreamingResampler

    block = np.array([[1000, 1000], [-3000, -3000], [20000, 20000]], dtype=np.int16)  # stereo, 16 kHz
    levels = {}
    for gain_db in (0.0, 12.0):
        q = AudioQueue(max_seconds=1.0)
        MicCapture(q, gain_db=gain_db)._convert(block, StreamingResampler(RATE, RATE), channels=2)
        levels[gain_db] = q.get(10, timeout=1.0).samples
    np.testing.assert_allclose(levels[0.0], [1000 / 32768, -3000 / 32768, 20000 / 32768], rtol=1e-6)
    np.testing.assert_allclose(levels[12.0][:2], levels[0.0][:2] * 10 ** (12 / 20), rtol=1e-5)
    assert levels[12.0][2] == 1.0  # 2.4 x full scale, clipped
