"""Central service: organisation, users, booking, back office and reports."""
