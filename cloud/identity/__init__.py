"""Identity: the organisation tree, users, roles and permissions, and signing in."""
