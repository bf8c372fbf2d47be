"""Small helpers the tests share."""

from __future__ import annotations

import uuid


def unique_code(name: str = "citizen") -> str:
    """A fresh demo login: any demo-<name> the demo data does not know is a new citizen."""
    return f"demo-{name}-{uuid.uuid4().hex[:8]}"
