//! Networking, DNS, zones, pools, tags, version, whoami and events.

use maas_api::{
    AllocateParams, DeployParams, DnsResourceFilter, DnsResourceParams, Error, EventLevel,
    EventQuery, LinkMode, LinkSubnetParams, MaasVersion, ReserveIpParams, TagCreateParams,
};

use crate::common::*;

#[tokio::test]
async fn subnets_and_fabrics() {
    let env = env().await;
    let subnets = env.admin.list_subnets().await.unwrap();
    let cidrs: Vec<_> = subnets.iter().map(|s| s.cidr.as_str()).collect();
    assert_eq!(cidrs, ["10.10.0.0/24", "10.20.0.0/24"]);
    let pxe = env.admin.read_subnet(subnets[0].id).await.unwrap();
    assert_eq!(pxe.name, "pxe");
    assert_eq!(pxe.gateway_ip.as_deref(), Some("10.10.0.1"));
    assert_eq!(pxe.dns_servers, ["10.10.0.2"]);
    assert!(pxe.vlan.as_ref().unwrap().dhcp_on);
    let storage = &subnets[1];
    let vlan = storage.vlan.as_ref().unwrap();
    assert_eq!((vlan.vid, vlan.fabric.as_str()), (20, "fabric-1"));

    let fabrics = env.admin.list_fabrics().await.unwrap();
    let names: Vec<_> = fabrics.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["fabric-0", "fabric-1"]);
    let vids: Vec<i64> = fabrics[1].vlans.iter().map(|v| v.vid).collect();
    assert!(vids.contains(&20), "{vids:?}");
}

#[tokio::test]
async fn link_and_unlink_a_static_address() {
    let env = env().await;
    let m = env.admin.read_machine("sm1aaa").await.unwrap();
    let iface = &m.interface_set[0];
    let pxe = env.admin.list_subnets().await.unwrap()[0].id;
    let linked = env
        .admin
        .link_subnet(
            "sm1aaa",
            iface.id,
            &LinkSubnetParams {
                mode: LinkMode::Static,
                subnet: Some(pxe.to_string()),
                ip_address: Some("10.10.0.33".into()),
                default_gateway: true,
                force: false,
            },
        )
        .await
        .unwrap();
    let link = linked
        .links
        .iter()
        .find(|l| l.ip_address.as_deref() == Some("10.10.0.33"))
        .expect("static link");
    assert_eq!(link.mode, "static");
    assert_eq!(link.subnet.as_ref().unwrap().cidr, "10.10.0.0/24");

    // The address is taken now.
    let err = env
        .admin
        .reserve_ip(&ReserveIpParams {
            ip: Some("10.10.0.33".into()),
            ..ReserveIpParams::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { message } if message == "The IP address 10.10.0.33 is already in use."),
        "{err:?}"
    );
    // An address outside the subnet is a form error.
    let err = env
        .admin
        .link_subnet(
            "sm1aaa",
            iface.id,
            &LinkSubnetParams {
                mode: LinkMode::Static,
                subnet: Some(pxe.to_string()),
                ip_address: Some("10.99.0.5".into()),
                default_gateway: false,
                force: false,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation { .. } | Error::BadRequest { .. }),
        "{err:?}"
    );

    let unlinked = env
        .admin
        .unlink_subnet("sm1aaa", iface.id, link.id)
        .await
        .unwrap();
    assert!(unlinked.links.iter().all(|l| l.id != link.id));

    // Deployed machines cannot be re-linked.
    let dep = env.admin.read_machine("dep1gg").await.unwrap();
    let err = env
        .admin
        .link_subnet(
            "dep1gg",
            dep.interface_set[0].id,
            &LinkSubnetParams {
                mode: LinkMode::Auto,
                subnet: Some(pxe.to_string()),
                ip_address: None,
                default_gateway: false,
                force: false,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
}

#[tokio::test]
async fn reserve_and_release_addresses() {
    let env = env().await;
    let by_subnet = env
        .admin
        .reserve_ip(&ReserveIpParams {
            subnet: Some("10.10.0.0/24".into()),
            ..ReserveIpParams::default()
        })
        .await
        .unwrap();
    assert_eq!(by_subnet.alloc_type_name, "User reserved");
    assert!(by_subnet.ip.starts_with("10.10.0."), "{}", by_subnet.ip);
    let by_ip = env
        .admin
        .reserve_ip(&ReserveIpParams {
            ip: Some("10.10.0.100".into()),
            hostname: Some("vip".into()),
            ..ReserveIpParams::default()
        })
        .await
        .unwrap();
    assert_eq!(by_ip.ip, "10.10.0.100");
    assert_eq!(by_ip.owner.as_ref().unwrap().username, "admin");
    assert_eq!(by_ip.subnet.as_ref().unwrap().cidr, "10.10.0.0/24");
    env.admin.release_ip("10.10.0.100").await.unwrap();
    env.admin.release_ip(&by_subnet.ip).await.unwrap();
    // Released addresses can be reserved again.
    env.admin
        .reserve_ip(&ReserveIpParams {
            ip: Some("10.10.0.100".into()),
            ..ReserveIpParams::default()
        })
        .await
        .unwrap();
    let err = env
        .admin
        .reserve_ip(&ReserveIpParams {
            subnet: Some("192.168.77.0/24".into()),
            ..ReserveIpParams::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRequest { .. } | Error::Validation { .. }),
        "{err:?}"
    );
    // Neither subnet nor ip: refused before anything is sent.
    let err = env
        .admin
        .reserve_ip(&ReserveIpParams::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
}

#[tokio::test]
async fn dns_resources_crud() {
    let env = env().await;
    let created = env
        .admin
        .create_dns_resource(&DnsResourceParams {
            fqdn: Some("api.lab.example".into()),
            address_ttl: Some(60),
            ip_addresses: Some(vec!["10.10.0.50".into(), "10.10.0.51".into()]),
            ..DnsResourceParams::default()
        })
        .await
        .unwrap();
    assert_eq!(created.fqdn, "api.lab.example");
    assert_eq!(created.address_ttl, Some(60));
    let mut ips = created.ips();
    ips.sort();
    assert_eq!(ips, ["10.10.0.50", "10.10.0.51"]);

    let listed = env
        .admin
        .list_dns_resources(&DnsResourceFilter {
            fqdn: Some("api.lab.example".into()),
            ..DnsResourceFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    let none = env
        .admin
        .list_dns_resources(&DnsResourceFilter {
            domain: Some("maas".into()),
            ..DnsResourceFilter::default()
        })
        .await
        .unwrap();
    assert!(none.iter().all(|r| r.id != created.id));

    let dup = env
        .admin
        .create_dns_resource(&DnsResourceParams {
            name: Some("api".into()),
            domain: Some("lab.example".into()),
            ip_addresses: Some(vec!["10.10.0.52".into()]),
            ..DnsResourceParams::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&dup, Error::Validation { fields } if fields.get("__all__").is_some_and(|m| m[0] == "Labels must be unique within their zone.")),
        "{dup:?}"
    );

    let updated = env
        .admin
        .update_dns_resource(
            created.id,
            &DnsResourceParams {
                ip_addresses: Some(vec!["10.10.0.52".into()]),
                ..DnsResourceParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.ips(), ["10.10.0.52"]);

    env.admin.delete_dns_resource(created.id).await.unwrap();
    let after = env
        .admin
        .list_dns_resources(&DnsResourceFilter::default())
        .await
        .unwrap();
    assert!(after.iter().all(|r| r.id != created.id));
    let err = env.admin.delete_dns_resource(created.id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn domains_zones_pools_and_tags() {
    let env = env().await;
    let a = &env.admin;

    let domains = a.list_domains().await.unwrap();
    let mut names: Vec<_> = domains.iter().map(|d| d.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["lab.example", "maas"]);
    let maas = domains.iter().find(|d| d.name == "maas").unwrap();
    assert!(maas.is_default && maas.id == 0);
    let lab_id = domains.iter().find(|d| d.name == "lab.example").unwrap().id;
    let lab = a.read_domain(lab_id).await.unwrap();
    assert_eq!((lab.name.as_str(), lab.ttl), ("lab.example", Some(300)));

    let zones = a.list_zones().await.unwrap();
    let names: Vec<_> = zones.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(names, ["default", "zone-a", "zone-b"]);
    let za = a.read_zone("zone-a").await.unwrap();
    assert_eq!(za.description, "first zone");
    assert_eq!(za.resource_uri, "/MAAS/api/2.0/zones/zone-a/");
    let zc = a.create_zone("zone-c", Some("third")).await.unwrap();
    assert_eq!(a.read_zone("zone-c").await.unwrap().id, zc.id);

    let pools = a.list_resource_pools().await.unwrap();
    let names: Vec<_> = pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["default", "pool-a"]);
    let default = a.read_resource_pool(0).await.unwrap();
    assert_eq!(default.description, "Default pool");
    assert_eq!(default.resource_uri, "/MAAS/api/2.0/resourcepool/0/");
    let pb = a.create_resource_pool("pool-b", None).await.unwrap();
    assert_eq!(a.read_resource_pool(pb.id).await.unwrap().name, "pool-b");

    let tags = a.list_tags().await.unwrap();
    let names: Vec<_> = tags.iter().map(|t| t.name.as_str()).collect();
    // The VM host brought MAAS's `pod-console-logging` tag with it.
    assert_eq!(names, ["gpu", "pod-console-logging", "ssd"]);
    assert_eq!(tags[2].comment, "solid state");
    let t = a
        .create_tag(&TagCreateParams {
            name: "k8s".into(),
            comment: Some("cluster nodes".into()),
            kernel_opts: Some("console=ttyS0".into()),
            ..TagCreateParams::default()
        })
        .await
        .unwrap();
    assert_eq!(t.kernel_opts.as_deref(), Some("console=ttyS0"));
    let upd = a
        .update_tag_nodes("k8s", &["sm1aaa".to_string(), "arm1cc".to_string()], &[])
        .await
        .unwrap();
    assert_eq!((upd.added, upd.removed), (2, 0));
    let upd = a
        .update_tag_nodes("k8s", &[], &["arm1cc".to_string()])
        .await
        .unwrap();
    assert_eq!((upd.added, upd.removed), (0, 1));
    // The tag is now a working allocation constraint.
    let m = a.allocate(&AllocateParams::new().tag("k8s")).await.unwrap();
    assert_eq!(m.hostname, "small-1");
    assert!(m.tag_names.iter().any(|t| t == "k8s"));
}

#[tokio::test]
async fn create_domain() {
    let env = env().await;
    let d = env
        .admin
        .create_domain("new.example", Some(false))
        .await
        .unwrap();
    assert_eq!(d.name, "new.example");
    assert!(!d.authoritative);
    assert_eq!(
        env.admin.read_domain(d.id).await.unwrap().name,
        "new.example"
    );
    assert!(
        env.admin
            .list_domains()
            .await
            .unwrap()
            .iter()
            .any(|x| x.id == d.id)
    );
    let dup = env
        .admin
        .create_domain("new.example", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&dup, Error::Validation { fields } if fields["name"] == ["Domain with this Name already exists."]),
        "{dup:?}"
    );
    let err = env
        .user
        .create_domain("user.example", None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn version_and_whoami() {
    let env = env().await;
    let v = env.admin.version().await.unwrap();
    assert_eq!(v.version, "3.6.5");
    assert_eq!(v.subversion, "");
    assert!(
        v.capabilities
            .iter()
            .any(|c| c == "network-deployment-ubuntu")
    );
    let parsed: MaasVersion = v.version.parse().unwrap();
    assert!(parsed >= "3.5.0".parse().unwrap());

    let me = env.admin.whoami().await.unwrap();
    assert_eq!(me.username, "admin");
    assert!(me.is_superuser);
    let me = env.user.whoami().await.unwrap();
    assert_eq!(me.username, "user");
    assert!(!me.is_superuser);
}

#[tokio::test]
async fn events_query_with_paging() {
    let env = env().await;
    let id = env
        .admin
        .allocate(&AllocateParams::new())
        .await
        .unwrap()
        .system_id;
    env.admin.deploy(&id, &DeployParams::new()).await.unwrap();
    env.ctl().complete_pending();

    let all = env
        .admin
        .query_events(&EventQuery::for_machine(&id))
        .await
        .unwrap();
    assert!(all.count >= 4, "{all:?}");
    assert_eq!(all.count as usize, all.events.len());
    let ids: Vec<i64> = all.events.iter().map(|e| e.id).collect();
    let mut newest_first = ids.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first, "newest first");
    assert_eq!(all.events[0].event_type, "Deployed");
    assert!(all.events.iter().all(|e| e.node == id));

    // Page through two at a time with `before`, and come back with `after`.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = env
            .admin
            .query_events(&EventQuery {
                limit: Some(2),
                before,
                ..EventQuery::for_machine(&id)
            })
            .await
            .unwrap();
        if page.events.is_empty() {
            break;
        }
        assert!(page.events.len() <= 2);
        let last = page.events.last().unwrap().id;
        assert!(
            page.prev_uri
                .as_deref()
                .is_some_and(|u| u.ends_with(&format!("before={last}"))),
            "{:?}",
            page.prev_uri
        );
        seen.extend(page.events.iter().map(|e| e.id));
        before = Some(last);
    }
    assert_eq!(seen, ids);
    let oldest = *ids.last().unwrap();
    let newer = env
        .admin
        .query_events(&EventQuery {
            after: Some(oldest),
            ..EventQuery::for_machine(&id)
        })
        .await
        .unwrap();
    assert_eq!(newer.events.len(), ids.len() - 1);

    // Level filtering: DEBUG includes at least as much as the INFO default.
    let debug = env
        .admin
        .query_events(&EventQuery {
            level: Some(EventLevel::Debug),
            ..EventQuery::for_machine(&id)
        })
        .await
        .unwrap();
    assert!(debug.count >= all.count);
    // MAAS refuses `before` with `after`; the client refuses it before sending.
    let err = env
        .admin
        .query_events(&EventQuery {
            before: Some(5),
            after: Some(1),
            ..EventQuery::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
}
