//! The MAAS version profiles 3.0–3.8 as the client sees them.

use maas_api::{
    AllocateParams, DeployParams, Error, ErrorClass, MaasVersion as ClientVersion,
    VmHostCreateParams, VmHostType,
};
use maas_sim::MaasVersion;

use crate::common::*;

#[tokio::test]
async fn every_profile_reports_its_version_and_fields() {
    for v in MaasVersion::ALL {
        let env = env_version(v).await;
        let version = env.admin.version().await.unwrap();
        assert_eq!(version.version, v.full());
        let parsed: ClientVersion = version.version.parse().unwrap();
        assert!(parsed >= "3.0.0".parse().unwrap(), "{v:?}");
        assert!(
            version
                .capabilities
                .iter()
                .any(|c| c == "network-deployment-ubuntu")
        );

        // Deploy to memory; the field shows from 3.5 on, the flag is kept in every version.
        let id = env
            .admin
            .allocate(&AllocateParams::new())
            .await
            .unwrap()
            .system_id;
        let m = env
            .admin
            .deploy(&id, &DeployParams::new().ephemeral(true))
            .await
            .unwrap();
        let shown = v >= MaasVersion::V3_5;
        assert_eq!(m.ephemeral_deploy.is_some(), shown, "{v:?}");
        if shown {
            assert_eq!(m.ephemeral_deploy, Some(true), "{v:?}");
        }
        assert!(env.ctl().machine(&id).unwrap().ephemeral_deploy, "{v:?}");
        assert_eq!(
            m.enable_kernel_crash_dump.is_some(),
            v >= MaasVersion::V3_6,
            "{v:?}"
        );
        assert_eq!(m.is_dpu.is_some(), v >= MaasVersion::V3_7, "{v:?}");
        env.ctl().complete_pending();
        let done = env.admin.read_machine(&id).await.unwrap();
        assert_eq!(done.status, maas_api::MachineStatus::Deployed, "{v:?}");

        // VM hosts exist until 3.7 and are gone (410) on MAAS main.
        let hosts = env.admin.list_vm_hosts().await;
        if v == MaasVersion::V3_8 {
            let err = hosts.unwrap_err();
            match &err {
                Error::Gone { message } => {
                    assert_eq!(message, "VM host (KVM) support has been removed from MAAS.")
                }
                other => panic!("expected 410 on {v:?}, got {other:?}"),
            }
            assert_eq!(err.class(), ErrorClass::Permanent);
            let err = env
                .admin
                .create_vm_host(&VmHostCreateParams {
                    host_type: VmHostType::Lxd,
                    power_address: "10.10.0.50".into(),
                    ..VmHostCreateParams::default()
                })
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Gone { .. }), "{err:?}");
            assert!(done.pod.is_none() && done.virtualmachine_id.is_none());
            // register_vmhost is refused, and the pod constraints are unknown.
            let err = env
                .admin
                .deploy(
                    "sm2bbb",
                    &DeployParams {
                        register_vmhost: Some(true),
                        ..DeployParams::new()
                    },
                )
                .await
                .unwrap_err();
            assert!(matches!(err, Error::BadRequest { .. }), "{err:?}");
            let err = env
                .admin
                .allocate(&AllocateParams {
                    pod: Some("kvm-01".into()),
                    ..AllocateParams::new()
                })
                .await
                .unwrap_err();
            assert!(
                matches!(&err, Error::Validation { fields } if fields["pod"] == ["No such constraint."]),
                "{err:?}"
            );
        } else {
            assert_eq!(hosts.unwrap().len(), 1, "{v:?}");
            let on_host = env
                .admin
                .allocate(&AllocateParams {
                    pod: Some("kvm-01".into()),
                    cpu_count: Some(2),
                    ..AllocateParams::new()
                })
                .await
                .unwrap();
            assert_eq!(
                on_host.pod.as_ref().map(|p| p.name.as_str()),
                Some("kvm-01"),
                "{v:?}"
            );
        }
        env.sim.shutdown().await;
    }
}
