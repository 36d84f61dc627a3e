"""Status documents for the tray tests."""

from __future__ import annotations

from typing import Any

from protocol.local import NodeStatus, parse_status


def status_doc(
    connectivity: str = "online",
    *,
    online: bool | None = None,
    datasets: dict[str, dict[str, int]] | None = None,
    workstations: int = 0,
) -> dict[str, Any]:
    """A status document as the node sends it; ``datasets`` maps id -> counts."""
    return {
        "online": connectivity != "offline_by_user" if online is None else online,
        "connectivity": connectivity,
        "message": {"vi": f"vi:{connectivity}", "en": f"en:{connectivity}"},
        "datasets": [
            {"id": ds, "connected": True, "counts": counts}
            for ds, counts in (datasets or {"cty-abc": {}}).items()
        ],
        "workstations": workstations,
        "version": "0.1.0",
    }


def make_status(connectivity: str = "online", **kwargs: Any) -> NodeStatus:
    return parse_status(status_doc(connectivity, **kwargs))
