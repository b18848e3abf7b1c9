"""The glassmesh sidecar proxy: outbound and inbound listeners, mTLS, routing, admin."""
