"""Live view: typed events on Redis pub/sub, the WebSocket server and the status page it serves."""
