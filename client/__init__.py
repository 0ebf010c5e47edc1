"""Headless microphone client: capture with PortAudio, transcribe locally or on a server.

``python -m client.mic --help``. Modules: :mod:`client.capture` (device and
retry loop), :mod:`client.audioqueue` (bounded buffer between capture and the
transcriber), :mod:`client.streamer` (reconnecting WebSocket client),
:mod:`client.local` (in-process transcription), :mod:`client.outputs`
(stdout / JSONL file / webhook).
"""
