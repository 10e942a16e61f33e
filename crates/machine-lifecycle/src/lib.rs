//! The pure machine lifecycle state machine: observed state in, next action out.
