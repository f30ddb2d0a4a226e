"""Contract between edge and cloud: message schemas, the sync protocol and shared value rules."""
