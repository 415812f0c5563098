"""Real-time delivery: WebSocket and SSE endpoints, gateway, frame protocol, registry, fan-out, presence."""
