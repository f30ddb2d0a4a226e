"""The `hall` command: runs edge nodes, the cloud service and the demo."""
