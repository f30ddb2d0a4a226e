"""Edge node: one per hall; owns the queue and the hall's devices, keeps working offline."""
