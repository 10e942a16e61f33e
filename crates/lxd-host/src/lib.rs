//! An LXD REST client and an idempotent LXD host bootstrap plan for MAAS VM hosts.
