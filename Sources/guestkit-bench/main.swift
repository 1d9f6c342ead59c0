// Placeholder until its issue lands.
print("guestkit-bench: not built yet")
