// Placeholder until this target's issue lands; replace with real tests.
