// Placeholder until the TTRPC issue lands.
enum TTRPCPlaceholder {}
