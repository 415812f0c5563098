"""The web application: factory, error mapping, health routes, CLI."""
