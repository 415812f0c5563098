"""A stand-in for the video library's HTTP API, routed inside the browser contexts, for as long as
the server has no video endpoints. It speaks the shapes the SPA uses (list, resumable upload in
chunks, signed stream URL, Range requests); playback sync itself goes through the real server."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from typing import Any

CHUNK = 1024  # small, so even a tiny file goes up in several chunks and the progress bar moves
ROUTES = re.compile(
    r"^https?://[^/]+/(api/v1/(groups/\d+/videos|uploads(/.*)?|videos/\d+)|stub-media/\d+)(\?.*)?$"
)


class StubLibrary:
    def __init__(self) -> None:
        self.videos: dict[int, dict[str, Any]] = {}
        self.blobs: dict[int, bytes] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.chunks: dict[str, dict[int, bytes]] = {}
        self.chunk_puts = 0

    def install(self, context: Any) -> None:
        context.route(ROUTES, self.handle)

    def handle(self, route: Any) -> None:
        request = route.request
        path = request.url.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]
        parts = path.split("/")
        if parts[0] == "stub-media":
            self._stream(route, int(parts[1]))
        elif parts[2] == "groups":
            group_id = int(parts[3])
            self._json(route, [v for v in self.videos.values() if v["group_id"] == group_id])
        elif parts[2] == "videos":
            self._json(route, self.videos[int(parts[3])])
        elif request.method == "POST" and len(parts) == 3:
            self._create(route, request.post_data_json)
        elif request.method == "PUT" and "chunks" in parts:
            self._chunk(route, parts[3], int(parts[5]), request.post_data_buffer)
        elif request.method == "POST" and parts[-1] == "complete":
            self._complete(route, parts[3])
        else:
            self._json(route, self.uploads[parts[3]])

    def _json(self, route: Any, body: Any, status: int = 200) -> None:
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body))

    def _create(self, route: Any, body: dict[str, Any]) -> None:
        upload_id = str(uuid.uuid4())
        self.uploads[upload_id] = {
            "id": upload_id,
            "group_id": body["group_id"],
            "name": body["name"],
            "size": body["size"],
            "chunk_size": CHUNK,
            "chunk_count": math.ceil(body["size"] / CHUNK),
            "received": [],
            "received_bytes": 0,
            "state": "open",
        }
        self.chunks[upload_id] = {}
        self._json(route, self.uploads[upload_id], 201)

    def _chunk(self, route: Any, upload_id: str, index: int, data: bytes) -> None:
        self.chunk_puts += 1
        self.chunks[upload_id][index] = data
        upload = self.uploads[upload_id]
        upload["received"] = sorted(self.chunks[upload_id])
        self._json(route, {"upload_id": upload_id, "index": index, "size": len(data)})

    def _complete(self, route: Any, upload_id: str) -> None:
        upload = self.uploads[upload_id]
        data = b"".join(self.chunks[upload_id][i] for i in range(upload["chunk_count"]))
        assert len(data) == upload["size"]
        video_id = len(self.videos) + 1
        self.blobs[video_id] = data
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        self.videos[video_id] = {
            "id": video_id,
            "group_id": upload["group_id"],
            "name": upload["name"],
            "size": len(data),
            "stream_url": f"/stub-media/{video_id}",
            "stream_url_expires_at": expires.isoformat(),
        }
        upload["state"] = "done"
        self._json(route, self.videos[video_id], 201)

    def _stream(self, route: Any, video_id: int) -> None:
        data = self.blobs[video_id]
        size = len(data)
        content_type = "audio/ogg" if data.startswith(b"OggS") else "video/webm"
        match = re.match(r"bytes=(\d*)-(\d*)", route.request.headers.get("range", ""))
        if not match:
            route.fulfill(
                status=200, body=data, headers={"Content-Type": content_type, "Accept-Ranges": "bytes"}
            )
            return
        start = int(match[1] or 0)
        end = min(int(match[2]) if match[2] else size - 1, size - 1)
        headers = {
            "Content-Type": content_type,
            "Accept-Ranges": "bytes",
            "Content-Range": f"bytes {start}-{end}/{size}",
        }
        route.fulfill(status=206, body=data[start : end + 1], headers=headers)
