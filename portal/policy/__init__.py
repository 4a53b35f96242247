"""The collection policy's versions: proposed by one admin, approved or rejected by
another (maker-checker), and the one in force found in one indexed query."""
