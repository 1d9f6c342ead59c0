// Placeholder until the GuestProto issue lands.
enum GuestProtoPlaceholder {}
