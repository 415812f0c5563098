"""Id bounds shared by every schema: 2^53 - 1, exact in IEEE doubles, so JavaScript clients and the
OpenAPI schema (whose numbers are doubles) state the same limit the server enforces."""

from __future__ import annotations

from typing import Annotated

import msgspec

MAX_ID = 2**53 - 1

IdValue = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
SeqValue = Annotated[int, msgspec.Meta(ge=0, le=MAX_ID)]
