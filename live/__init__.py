"""The live-shopping room server: HTTP API, WebSocket gateway, hubs, Redis store, CLI."""
