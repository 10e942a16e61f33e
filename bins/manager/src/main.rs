//! `capmaas-manager`: flags in, `capmaas_controller` out.

fn main() {}
