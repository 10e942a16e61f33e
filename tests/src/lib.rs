//! Cross-crate tests of the workspace.
