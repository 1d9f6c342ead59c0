// Placeholder until the ComposeKernel issue lands.
enum ComposeKernelPlaceholder {}
