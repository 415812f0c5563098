"""The domain's publishing port: what it announces after a commit; app/ws/delivery.py delivers it.

Services publish through `Events` (usually through a `UnitOfWork`, which holds the events until the
transaction commits); they never see a broker, a channel or an envelope.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from app.domain.grants import Grants


class Events(Protocol):
    grants: Grants  # what this worker remembers it was allowed (app/domain/grants.py)

    async def to_group(self, group_id: int, *events: msgspec.Struct) -> None:
        """Publish to a group's members, in the order given."""

    async def access_changed(self) -> None:
        """Every worker forgets its grants (streams, memberships)."""

    async def to_user(self, user_id: int, event: msgspec.Struct) -> None:
        """A control event for one user's sockets, wherever they are connected."""
