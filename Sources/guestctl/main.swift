// Placeholder until its issue lands.
print("guestctl: not built yet")
