// Placeholder until the GuestInit issue lands.
enum GuestInitPlaceholder {}
