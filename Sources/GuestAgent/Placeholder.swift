// Placeholder until the GuestAgent issue lands.
enum GuestAgentPlaceholder {}
