//! A MAAS 2.0 API simulator: MAAS's state machine, status codes and bodies, for tests.
