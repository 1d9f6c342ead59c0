// Placeholder until its issue lands.
print("guest-vsock-bridge: not built yet")
