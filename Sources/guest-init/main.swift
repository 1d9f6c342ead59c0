// Placeholder until its issue lands.
print("guest-init: not built yet")
