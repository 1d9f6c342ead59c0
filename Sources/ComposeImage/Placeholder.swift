// Placeholder until the ComposeImage issue lands.
enum ComposeImagePlaceholder {}
