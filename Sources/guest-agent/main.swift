// Placeholder until its issue lands.
print("guest-agent: not built yet")
