"""The transcription server: HTTP upload API, OpenAI-compatible endpoint and WebSocket streaming.

``create_app(config)`` in :mod:`server.app` builds the Flask app; ``python -m
server`` runs it for development and ``server.wsgi:app`` under gunicorn.
"""
