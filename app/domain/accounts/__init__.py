"""Accounts: users, passwords, tokens, sessions, profiles, blocks, and sign-in with OpenID Connect."""
