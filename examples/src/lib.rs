//! Runnable examples of the project's libraries.
