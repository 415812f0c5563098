// The group video library: list, resumable chunked upload with progress, and stream URLs.
//
// A <video> element cannot send an Authorization header, so it plays the signed, short-lived
// `stream_url` the API returns with each video (refetched when it is about to expire, or when the
// element reports an error). Uploads go through the resumable upload API: create a session, PUT each
// chunk (retried on failure, any order is fine), then complete. The session id is kept in
// sessionStorage per file, so "Upload" again after a dropped connection or a reload sends only the
// chunks the server does not have yet.
//
// Qualities: each video lists `qualities` (the original, then renditions the server transcodes in the
// background, with state and progress); `video_processing` frames update them live. The player plays
// the preferred quality when it is ready, else the original.
//
// Subtitles: each video lists its `subtitles` tracks, each with a signed `url` for a <track src>.
// `video_updated` frames carry the tracks without URLs (they are signed per viewer): a track this
// client has no URL for yet makes it fetch the video once.

import { ApiError, NetworkError, parse } from "./api.js";

const URL_MARGIN_MS = 60_000;
const CHUNK_ATTEMPTS = 5;
const QUALITY_KEY = "huddle.quality";

function normalize(video) {
  return { ...video, title: video.name };
}

export class Media {
  constructor(api, store) {
    this.api = api;
    this.store = store;
    this.available = null; // unknown until the first list answers
    this.lists = new Map(); // group id -> [video]
    this.preferred = localStorage.getItem(QUALITY_KEY) || "original";
  }

  /** The quality to play from now on ("original", "360p", ...): remembered on this browser. */
  prefer(quality) {
    this.preferred = quality;
    localStorage.setItem(QUALITY_KEY, quality);
  }

  /** The qualities of a video that can be played now, the original first. */
  playable(video) {
    return (video?.qualities || []).filter((q) => q.state === "done" && q.url);
  }

  async refresh(groupId) {
    try {
      const list = await this.api.get(`/api/v1/groups/${groupId}/videos`);
      this.available = true;
      this.lists.set(groupId, list.map(normalize));
    } catch (error) {
      // Member of the group, yet 404/405: this server has no video routes.
      if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
        this.available = false;
        return;
      }
      throw error;
    }
    this.store.emit("videos", { groupId });
  }

  videos(groupId) {
    return this.lists.get(groupId) || [];
  }

  /** A playable URL for a video of the group, by the name the playback protocol uses. */
  async sourceFor(groupId, name, { fresh = false } = {}) {
    let video = this.videos(groupId).find((v) => v.name === name);
    if (!video) {
      await this.refresh(groupId).catch(() => {});
      video = this.videos(groupId).find((v) => v.name === name);
    }
    if (!video) return null;
    const pick = () => this.playable(video).find((q) => q.quality === this.preferred)?.url || video.stream_url;
    const expires = Date.parse(video.stream_url_expires_at || "");
    if (fresh || !video.stream_url || (Number.isFinite(expires) && expires - Date.now() < URL_MARGIN_MS)) {
      try {
        Object.assign(video, normalize(await this.api.get(`/api/v1/videos/${video.id}`)));
      } catch {
        return pick() || null;
      }
    }
    return pick();
  }

  /** Real-time library events: another member uploaded, renamed or deleted a video; a video's
   * renditions progressed (`video_processing`). */
  event(frame) {
    if (frame.type === "video_processing") {
      this.#processing(frame);
      return;
    }
    const list = [...this.videos(frame.group_id)];
    if (frame.type === "video_deleted") {
      this.lists.set(frame.group_id, list.filter((v) => v.id !== frame.video_id));
    } else {
      const index = list.findIndex((v) => v.id === frame.video.id);
      const before = index >= 0 ? list[index].name : null;
      const merged = normalize({ ...(index >= 0 ? list[index] : {}), ...frame.video });
      const urls = new Map((index >= 0 ? list[index].subtitles || [] : []).map((t) => [t.id, t.url]));
      merged.subtitles = (frame.video.subtitles || []).map((t) => ({ ...t, url: urls.get(t.id) || null }));
      if (index >= 0) list[index] = merged;
      else list.unshift(merged);
      this.lists.set(frame.group_id, list);
      if (before && before !== merged.name) this.store.emit("video-renamed", { groupId: frame.group_id, from: before, to: merged.name });
      if (!merged.stream_url) this.refresh(frame.group_id).catch(() => {});
      else if (merged.subtitles.some((t) => !t.url)) this.#resign(merged, frame.group_id);
    }
    this.store.emit("videos", { groupId: frame.group_id });
  }

  #processing(frame) {
    const video = this.videos(frame.group_id).find((v) => v.id === frame.video_id);
    if (!video) return;
    const urls = new Map((video.qualities || []).map((q) => [q.quality, q.url]));
    video.processing = frame.state;
    video.processing_error = frame.error;
    for (const key of ["duration", "width", "height"]) if (frame[key] != null) video[key] = frame[key];
    video.qualities = frame.qualities.map((q) => ({ ...q, url: urls.get(q.quality) || null }));
    this.store.emit("videos", { groupId: frame.group_id });
    // URLs are signed per viewer: fetch them when a quality (or the poster) becomes ready.
    const unsigned = video.qualities.some((q) => q.state === "done" && !q.url) || (frame.poster && !video.poster_url);
    if (unsigned) this.#resign(video, frame.group_id);
  }

  /** Fetch a video again for the URLs signed for this viewer (new tracks, renditions, the poster). */
  #resign(video, groupId) {
    this.api
      .get(`/api/v1/videos/${video.id}`)
      .then((fresh) => {
        Object.assign(video, normalize(fresh));
        this.store.emit("videos", { groupId });
      })
      .catch(() => {});
  }

  /** Add a subtitle track (WebVTT or SRT; the server converts and cleans it) to a video. */
  async addSubtitles(video, file, { language, label, kind }) {
    const track = await this.api.upload(`/api/v1/videos/${video.id}/subtitles`, file, { language, label: label || undefined, kind });
    await this.refresh(video.group_id).catch(() => {});
    return track;
  }

  async deleteSubtitles(video, track) {
    await this.api.delete(`/api/v1/videos/${video.id}/subtitles/${track.id}`);
    await this.refresh(video.group_id).catch(() => {});
  }

  /** One resumable upload service for both purposes: "video" (the library) or "attachment". */
  async upload(groupId, file, onProgress, { purpose = "video" } = {}) {
    const key = `huddle.upload:${purpose}:${groupId}:${file.name}:${file.size}:${file.lastModified}`;
    let upload = null;
    const saved = sessionStorage.getItem(key);
    if (saved) {
      try {
        upload = await this.api.get(`/api/v1/uploads/${saved}`);
        if (upload.state !== "open") upload = null;
      } catch {
        upload = null; // expired or finished: start again
      }
    }
    if (!upload) {
      upload = await this.api.post("/api/v1/uploads", { name: file.name, size: file.size, group_id: groupId, purpose });
      sessionStorage.setItem(key, upload.id);
    }
    const received = new Set(upload.received);
    let sent = 0;
    for (const index of received) sent += Math.min(upload.chunk_size, file.size - index * upload.chunk_size);
    onProgress(sent, file.size);
    for (let index = 0; index < upload.chunk_count; index += 1) {
      if (received.has(index)) continue;
      const start = index * upload.chunk_size;
      const chunk = file.slice(start, Math.min(file.size, start + upload.chunk_size));
      await this.#putChunk(upload.id, index, chunk, (loaded) => onProgress(sent + loaded, file.size));
      sent += chunk.size;
      onProgress(sent, file.size);
    }
    const made = await this.api.post(`/api/v1/uploads/${upload.id}/complete`);
    sessionStorage.removeItem(key);
    if (purpose === "video") await this.refresh(groupId).catch(() => {});
    return made;
  }

  async #putChunk(uploadId, index, chunk, onProgress) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#send(uploadId, index, chunk, onProgress);
      } catch (error) {
        const retriable = error instanceof NetworkError || (error instanceof ApiError && (error.status === 401 || error.status >= 500));
        if (!retriable || attempt >= CHUNK_ATTEMPTS) throw error;
        if (error instanceof ApiError && error.status === 401) await this.api.session.refresh();
        else await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt * Math.random()));
      }
    }
  }

  /** One chunk over XMLHttpRequest, the only browser API that reports upload progress. */
  async #send(uploadId, index, chunk, onProgress) {
    const token = await this.api.session.accessToken();
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", `/api/v1/uploads/${uploadId}/chunks/${index}`);
      xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded));
      xhr.addEventListener("error", () => reject(new NetworkError(new Error("upload failed"))));
      xhr.addEventListener("abort", () => reject(new NetworkError(new Error("upload aborted"))));
      xhr.addEventListener("load", () => {
        const headers = new Headers();
        const retryAfter = xhr.getResponseHeader("Retry-After");
        if (retryAfter) headers.set("Retry-After", retryAfter);
        parse(new Response(xhr.status === 204 ? null : xhr.responseText, { status: xhr.status, headers })).then(resolve, reject);
      });
      xhr.send(chunk);
    });
  }
}
