// Placeholder until its issue lands.
print("compose-guest: not built yet")
