"""The hall's devices: firmware profiles, drivers, the MQTT device bus and its registry."""
