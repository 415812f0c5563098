"""The process-wide objects every request shares: engine, Redis client, blob store, shared state, codecs.

The domain's dependencies, typed by their ports; built once per worker by `build_runtime`
(app/server/runtime.py, which picks the implementations), closed by the app's lifespan. Handlers
reach it through the `runtime` dependency; nothing here is a module global, so tests build as many
apps as they like.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.blobstore import BlobStore
from app.broker import Broker
from app.config import Settings
from app.domain.accounts.oidc import Oidc
from app.domain.accounts.passwords import PasswordHasher
from app.domain.accounts.tokens import TokenCodec
from app.domain.events import Events
from app.domain.media.catalog.streams import SignedStreams
from app.domain.messages.appender import Appender
from app.domain.messages.store import MessageStore
from app.domain.playback import PlaybackStore
from app.domain.shared.signing import AttachmentSigner
from app.domain.watching import WatchingStore
from app.kv import SharedState


@dataclass(eq=False)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # A RedisClient (one server or a cluster) or None. Typed Any: Litestar checks dependencies with
    # msgspec, which refuses a union of two classes.
    redis: Any
    state: SharedState
    tokens: TokenCodec
    passwords: PasswordHasher
    messages: MessageStore
    appender: Appender  # the one way new messages are stored and announced
    broker: Broker
    events: Events
    blobs: BlobStore
    streams: SignedStreams  # stream URLs' signer and the players' light path (one per worker)
    attachment_signer: AttachmentSigner
    playback: PlaybackStore  # each group's player: read by sockets, moved by controls and video changes
    watching: WatchingStore  # who has each group's player open (app/domain/watching.py)
    # Images decoded at once by this worker (IMAGE_CONCURRENCY): a few KB of PNG can decode to 150 MB.
    image_slots: asyncio.Semaphore
    oidc: Oidc  # the identity providers of OIDC_PROVIDERS (sign in with ...)

    async def close(self) -> None:
        await self.broker.close()
        await self.messages.close()
        await self.blobs.close()
        await self.state.close()
        await self.oidc.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()
