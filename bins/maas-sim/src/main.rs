//! The maas-sim binary: a MAAS API simulator on a TCP port.

fn main() {}
