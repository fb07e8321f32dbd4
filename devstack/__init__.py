"""The real parts of the local stack (Temporal, PostgreSQL, localstripe, an SMTP sink).

`python -m devstack` (what `make run` calls) starts them and the engine's processes; the test
suite's fixtures use `devstack.services` and `devstack.mailbox` directly.
"""
