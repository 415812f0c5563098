"""HTTP pieces below the domain that controllers and the socket share: bodies, error entries."""
