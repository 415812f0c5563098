"""Groups and direct chats: membership, roles, limits, access checks."""
