"""The hall's queue: business types, windows, tickets, priority, calling and the event log."""

from edge.queue.counter import EVALUATION_LEVELS
from edge.queue.engine import QueueEngine
from edge.queue.errors import QueueError

__all__ = ["EVALUATION_LEVELS", "QueueEngine", "QueueError"]
