"""auth_broker: runs OpenD, gets it logged in, and speaks ostai/futuopend's WebSocket protocol and the bus."""
