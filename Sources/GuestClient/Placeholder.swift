// Placeholder until the GuestClient issue lands.
enum GuestClientPlaceholder {}
