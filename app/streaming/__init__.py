"""HTTP Range streaming (RFC 9110) over any blob store: pure parsing, validators, the response."""
