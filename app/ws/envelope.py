"""What travels through the broker: a one-line header for routing, then the frame, encoded once.

    b"<seq> <kind> <subject> <published>\\n" + frame_json

Workers route on the header alone, never parsing the JSON on the hot path: `seq` (0 when the event
is not part of the group's sequence) lets each socket drop duplicates and notice gaps; `kind` says
how to treat it; `subject` is the user id a membership or session change is about (0 if none);
`published` is the publisher's clock in microseconds, for the fan-out delay metric.
"""

from __future__ import annotations

import time
from enum import StrEnum


class Kind(StrEnum):
    SEQUENCED = "s"  # message, add, video_control: part of the group's gap-free sequence
    LEFT = "l"  # sequenced `leave`: then the subject's sockets stop receiving the group
    EVENT = "e"  # edits, deletions, reactions, receipts, presence, playback state
    TYPING = "t"  # ephemeral: the first thing dropped under backpressure
    GROUP_DELETED = "d"
    CONTROL = "c"  # user channel: sessions ended, groups joined; rare, so the frame itself is decoded


def pack(frame: bytes, seq: int = 0, kind: Kind = Kind.EVENT, subject: int = 0) -> bytes:
    published = time.time_ns() // 1000
    return b"%d %s %d %d\n" % (seq, kind.value.encode(), subject, published) + frame


def unpack(payload: bytes) -> tuple[int, Kind, int, float, bytes]:
    """(seq, kind, subject, published at in seconds since the epoch, frame)."""
    header, _, frame = payload.partition(b"\n")
    seq, kind, subject, published = header.split(b" ", 3)
    return int(seq), Kind(kind.decode()), int(subject), int(published) / 1e6, frame
