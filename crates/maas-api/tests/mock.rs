#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The `mock` feature's `MockMaasApi` stands in for the real client behind `dyn MaasApi`.

use std::sync::Arc;

use maas_api::{AllocateParams, Error, ErrorClass, MaasApi, Machine, MachineStatus, MockMaasApi};

async fn allocate_or_report(
    api: &dyn MaasApi,
    params: &AllocateParams,
) -> Result<String, ErrorClass> {
    api.allocate(params)
        .await
        .map(|m| m.system_id)
        .map_err(|e| e.class())
}

#[tokio::test]
async fn mock_implements_the_trait() {
    let mut mock = MockMaasApi::new();
    mock.expect_allocate()
        .withf(|p| p.tags == vec!["gpu".to_owned()] && p.agent_name.as_deref() == Some("c1"))
        .times(1)
        .returning(|_| {
            Ok(Machine {
                system_id: "abc123".into(),
                status: MachineStatus::Allocated,
                ..Machine::default()
            })
        });
    mock.expect_allocate().times(1).returning(|_| {
        Err(Error::NoMachineAvailable {
            message: "No machine available.".into(),
        })
    });
    mock.expect_abort()
        .withf(|id, comment| id == "abc123" && comment.as_deref() == Some("stop"))
        .times(1)
        .returning(|_, _| Ok(Machine::default()));

    let api: Arc<dyn MaasApi> = Arc::new(mock);
    let wanted = AllocateParams::new().tag("gpu").agent_name("c1");
    assert_eq!(
        allocate_or_report(api.as_ref(), &wanted).await,
        Ok("abc123".to_owned())
    );
    assert_eq!(
        allocate_or_report(api.as_ref(), &AllocateParams::new()).await,
        Err(ErrorClass::Capacity)
    );
    api.abort("abc123", Some("stop".into())).await.unwrap();
}
