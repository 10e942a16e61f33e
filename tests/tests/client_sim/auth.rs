//! Both OAuth signature methods against the simulator, on every request shape the client
//! sends: GET with repeated query names, POST url-encoded (repeated names, non-ASCII), POST
//! multipart (user_data), PUT with a body, DELETE; and a wrong secret refused with MAAS's
//! 401 text, redacted.
//!
//! Needs maas-sim's HMAC-SHA1 verification (MAAS's base string: see docs/maas-api.md).

use maas_api::{
    AllocateParams, ClientConfig, DeployParams, DnsResourceParams, Error, MaasClient,
    MachineFilter, MachineStatus, RetryPolicy, SignatureMethod,
};

use crate::common::*;

fn client_signing(endpoint: &str, key: &str, method: SignatureMethod) -> MaasClient {
    let config = ClientConfig::new(endpoint, key)
        .unwrap()
        .with_signature_method(method)
        .with_retry(RetryPolicy::none());
    MaasClient::new(config).unwrap()
}

#[tokio::test]
async fn every_request_shape_is_accepted_with_both_signature_methods() {
    for method in [SignatureMethod::HmacSha1, SignatureMethod::Plaintext] {
        let env = env().await;
        let c = client_signing(&env.sim.endpoint(), env.sim.admin_api_key(), method);
        assert_eq!(c.whoami().await.unwrap().username, "admin", "{method}");

        let filter = MachineFilter::new()
            .hostname("small-1")
            .hostname("small-2")
            .hostname("nö such&host=%41");
        let listed = c.list_machines(&filter).await.unwrap();
        assert_eq!(hostnames(&listed), ["small-1", "small-2"], "{method}");

        let wanted = AllocateParams::new()
            .tag("ssd")
            .tag("ssd")
            .agent_name("capmaas/ns/é c1")
            .comment("x & y = z");
        let m = c.allocate(&wanted).await.unwrap();
        assert_eq!(m.status, MachineStatus::Allocated, "{method}");

        // user_data makes the body multipart.
        let deploy = DeployParams::new()
            .distro_series("jammy")
            .user_data(b"#cloud-config\nruncmd: [echo \xc3\xa9]\n".to_vec());
        let m = c.deploy(&m.system_id, &deploy).await.unwrap();
        assert_eq!(m.status, MachineStatus::Deploying, "{method}");

        let created = c
            .create_dns_resource(&DnsResourceParams {
                fqdn: Some("auth.lab.example".into()),
                ip_addresses: Some(vec!["10.10.0.60".into()]),
                ..DnsResourceParams::default()
            })
            .await
            .unwrap();
        let updated = c
            .update_dns_resource(
                created.id,
                &DnsResourceParams {
                    address_ttl: Some(42),
                    ..DnsResourceParams::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.address_ttl, Some(42), "{method}");
        c.delete_dns_resource(created.id).await.unwrap();
    }
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_the_answer_redacted() {
    let env = env().await;
    let key = env.sim.admin_api_key().to_string();
    let parts: Vec<&str> = key.split(':').collect();
    let wrong = "WrongSecretWrongSecretWrongSecre";
    for method in [SignatureMethod::HmacSha1, SignatureMethod::Plaintext] {
        let c = client_signing(
            &env.sim.endpoint(),
            &format!("{}:{}:{wrong}", parts[0], parts[1]),
            method,
        );
        let err = c.whoami().await.unwrap_err();
        let Error::Unauthorized { message } = &err else {
            panic!("{method}: expected 401, got {err:?}");
        };
        assert!(
            message.starts_with(
                "Authorization Error: 'Invalid signature. Expected signature base string: "
            ),
            "{method}: {message}"
        );
        for shown in [message.clone(), err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(wrong), "{method}: {shown}");
            assert!(
                !shown.contains(parts[2]),
                "{method}: real secret in {shown}"
            );
        }
    }
}
