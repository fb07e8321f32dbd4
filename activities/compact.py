"""Payload models whose JSON leaves out every field that holds its default.

Temporal stores every payload in the history and moves it several times between its
services; measured on the dev server, each KiB an order's payloads carry costs it about
2.5 ms of CPU per order (docs/performance.md, "What the engine's extra cost is made of").
A request such as `NotificationRequest` mostly carries defaults (no single channel, no
recipient, the default delivery policy), so its JSON names only what differs. (pydantic's
`exclude_defaults` does the same, but Temporal's converter serialises with no options, so
the model leaves them out itself.)

Reading such a payload fills each missing field with its default, so **a default of a
compact model never changes**: payloads in flight omit it, and a changed default would
change what they say. `tests/unit/test_compact.py` pins them; a new behaviour takes a new
field instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer


class Compact(BaseModel):
    """A payload model serialised to JSON without the fields at their defaults."""

    @model_serializer(mode="wrap", when_used="json")
    def _without_defaults(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        for name, field in type(self).model_fields.items():
            if field.is_required() or name not in data:
                continue
            if getattr(self, name) == field.get_default(call_default_factory=True):
                del data[name]
        return data
