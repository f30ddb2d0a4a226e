"""Voice calling on the edge: clips, synthesis, announcements and playback (§4.2.3, §5.2)."""
