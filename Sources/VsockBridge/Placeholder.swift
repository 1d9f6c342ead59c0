// Placeholder until the VsockBridge issue lands.
enum VsockBridgePlaceholder {}
