// The group video library. Placeholder until the server's video endpoints exist: nothing to list,
// no source to play (a playback state naming a video shows as "not available").

export class Media {
  constructor(api, store) {
    this.api = api;
    this.store = store;
    this.available = false;
  }

  async refresh() {}

  videos() {
    return [];
  }

  async sourceFor() {
    return null;
  }

  async upload() {
    throw new Error("This server has no video library yet.");
  }
}
