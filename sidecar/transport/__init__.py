"""Asyncio edges of the data path: connections, upstream pools and TLS."""
