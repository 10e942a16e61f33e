//! The route table: one file per MAAS resource, each with its routes
//! (`resources()`) and the handler functions behind them.

mod account;
mod dnsresourcerecords;
mod dnsresources;
mod domains;
pub(crate) mod events;
mod fabrics;
mod interfaces;
mod ipaddresses;
mod machines;
mod pools;
mod subnets;
mod tags;
mod users;
pub(crate) mod version;
mod vmhosts;
mod zones;

/// What every routes file uses.
mod prelude {
    pub(super) use super::{NAME_MAX, a, aa, admin, auth, h};
    pub(super) use crate::api::reply::{self, VMHOST_REMOVED};
    pub(super) use crate::api::{
        ActionDef, Api, Ctx, Exec, HandlerDef, HandlerResult, Reply, ResourceDef, render,
    };
    pub(super) use crate::domain::error::MaasError;
    pub(super) use crate::domain::machines::Perm;
    pub(super) use crate::domain::validate;
    pub(super) use crate::model::version::MaasVersion;
    pub(super) use crate::model::*;
    pub(super) use http::StatusCode;
    pub(super) use serde_json::{Value, json};
    pub(super) use std::sync::Arc;
}

use prelude::*;

/// `max_length` of the name of zones, resource pools and tags.
const NAME_MAX: usize = 256;

fn a(
    method: &'static str,
    op: Option<&'static str>,
    doc: &'static str,
    f: super::SyncFn,
) -> ActionDef {
    ActionDef {
        method,
        op,
        admin: false,
        doc,
        exec: Exec::Sync(f),
    }
}

fn admin(mut action: ActionDef) -> ActionDef {
    action.admin = true;
    action
}

fn aa(
    method: &'static str,
    op: Option<&'static str>,
    doc: &'static str,
    f: super::AsyncFn,
) -> ActionDef {
    ActionDef {
        method,
        op,
        admin: false,
        doc,
        exec: Exec::Async(f),
    }
}

fn h(
    name: &'static str,
    doc: &'static str,
    path: &'static str,
    params: &'static [&'static str],
    actions: Vec<ActionDef>,
) -> HandlerDef {
    HandlerDef {
        name,
        doc,
        path,
        params,
        actions,
    }
}

fn auth(handler: HandlerDef) -> ResourceDef {
    ResourceDef {
        auth: Some(handler),
        anon: None,
        extra_patterns: &[],
    }
}

/// The whole table, in MAAS's URL order (the first matching pattern wins).
pub(super) fn build_table() -> Vec<ResourceDef> {
    [
        machines::resources(),
        vmhosts::resources(),
        interfaces::resources(),
        fabrics::resources(),
        subnets::resources(),
        ipaddresses::resources(),
        dnsresourcerecords::resources(),
        dnsresources::resources(),
        domains::resources(),
        zones::resources(),
        pools::resources(),
        tags::resources(),
        version::resources(),
        users::resources(),
        events::resources(),
        account::resources(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
