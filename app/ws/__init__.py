"""Real-time: WebSocket endpoints, frame protocol, connection registry, broker, presence, playback."""
