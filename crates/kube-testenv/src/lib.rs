//! Test support: a real etcd and kube-apiserver on loopback, with CRDs installed.
