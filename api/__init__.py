"""The outer layer: the HTTP API (FastAPI, ``api.app``), the ``switchback`` command line
(``api.cli``), the wiring of each deployment (``api.services`` embedded,
``api.distributed`` on Kafka + PostgreSQL), the ``--demo`` feed and the Python SDK
(``api.sdk.Emitter``). It may import every other package; nothing imports it."""
