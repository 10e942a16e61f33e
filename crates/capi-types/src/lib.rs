//! Custom resources of the MAAS Cluster API infrastructure provider and the CAPI core types it reads.
