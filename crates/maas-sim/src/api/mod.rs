//! The MAAS API under `/MAAS/api/2.0/`: one route table drives routing,
//! dispatch (`op` from query, body or `op-<name>` path) and `/describe/`.

pub(crate) mod auth;
pub(crate) mod describe;
pub(crate) mod faults;
pub(crate) mod render;
pub(crate) mod reply;
mod routes;

pub(crate) use reply::Reply;

use crate::domain::error::MaasError;

use crate::domain::params::Params;
use crate::domain::store::Store;
use crate::model::User;
use auth::AuthOutcome;
use auth::NonceStore;
use faults::FaultDecision;
use faults::Faults;
use futures::future::BoxFuture;
use http::{Method, StatusCode};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

/// What the API layer works with: the domain's store, plus the request
/// machinery of its own (OAuth nonces, injected faults, rendered JSON).
pub(crate) struct Api {
    pub(crate) store: Store,
    pub(crate) nonces: Mutex<NonceStore>,
    pub(crate) faults: Mutex<Faults>,
    render_cache: Mutex<HashMap<u64, (u64, bytes::Bytes)>>,
}

impl Deref for Api {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl Api {
    pub(crate) fn new(store: Store, faults: Faults) -> Api {
        Api {
            store,
            nonces: Mutex::new(NonceStore::default()),
            faults: Mutex::new(faults),
            render_cache: Mutex::new(HashMap::new()),
        }
    }

    /// Forget nonces and rendered JSON (after a reset).
    pub(crate) fn clear_caches(&self) {
        self.render_cache.lock().clear();
        self.nonces.lock().clear();
    }

    /// Rendered machine JSON cached for `generation`, if any.
    pub(crate) fn cached_render(&self, machine_id: u64, generation: u64) -> Option<bytes::Bytes> {
        self.render_cache
            .lock()
            .get(&machine_id)
            .filter(|(g, _)| *g == generation)
            .map(|(_, b)| b.clone())
    }

    /// Remember rendered machine JSON for `generation`.
    pub(crate) fn store_render(&self, machine_id: u64, generation: u64, body: bytes::Bytes) {
        let mut cache = self.render_cache.lock();
        if cache.len() > 50_000 {
            cache.clear();
        }
        cache.insert(machine_id, (generation, body));
    }
}

/// The API root path.
pub(crate) const API_ROOT: &str = "/MAAS/api/2.0/";

/// A parsed request, as handlers see it.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) query: Params,
    pub(crate) body: Params,
    pub(crate) user: Option<User>,
    pub(crate) args: Vec<String>,
}

impl Ctx {
    /// The authenticated user (auth handlers always have one).
    pub(crate) fn user(&self) -> Result<&User, MaasError> {
        self.user.as_ref().ok_or_else(|| MaasError::forbidden(""))
    }

    /// Path parameter `i` (empty when missing).
    pub(crate) fn arg(&self, i: usize) -> &str {
        self.args.get(i).map(String::as_str).unwrap_or("")
    }
}

pub(crate) type HandlerResult = Result<Reply, MaasError>;
pub(crate) type SyncFn = fn(&Api, &Ctx) -> HandlerResult;
pub(crate) type AsyncFn = fn(Arc<Api>, Ctx) -> BoxFuture<'static, HandlerResult>;

/// How an action runs.
#[derive(Clone, Copy)]
pub(crate) enum Exec {
    Sync(SyncFn),
    Async(AsyncFn),
}

/// One action of a handler: CRUD (`op: None`) or an operation.
#[derive(Clone)]
pub(crate) struct ActionDef {
    pub(crate) method: &'static str,
    pub(crate) op: Option<&'static str>,
    /// `@admin_method`: 403 `This method is reserved for admin users.`
    pub(crate) admin: bool,
    pub(crate) doc: &'static str,
    pub(crate) exec: Exec,
}

impl ActionDef {
    /// The describe name: the op, or `read`/`create`/`update`/`delete`.
    pub(crate) fn name(&self) -> &'static str {
        match self.op {
            Some(op) => op,
            None => match self.method {
                "GET" => "read",
                "POST" => "create",
                "PUT" => "update",
                _ => "delete",
            },
        }
    }
}

/// A piston handler: its name, URI template and actions.
#[derive(Clone)]
pub(crate) struct HandlerDef {
    pub(crate) name: &'static str,
    pub(crate) doc: &'static str,
    /// Full path template, e.g. `/MAAS/api/2.0/machines/{system_id}/`.
    pub(crate) path: &'static str,
    pub(crate) params: &'static [&'static str],
    pub(crate) actions: Vec<ActionDef>,
}

impl HandlerDef {
    pub(crate) fn allowed_methods(&self) -> Vec<&'static str> {
        let mut m: Vec<&'static str> = self.actions.iter().map(|a| a.method).collect();
        m.sort_unstable();
        m.dedup();
        m
    }

    fn find(&self, method: &str, op: Option<&str>) -> Option<&ActionDef> {
        self.actions
            .iter()
            .find(|a| a.method == method && a.op == op)
    }
}

/// A URL resource: the authenticated handler and the anonymous fallback.
#[derive(Clone)]
pub(crate) struct ResourceDef {
    pub(crate) auth: Option<HandlerDef>,
    pub(crate) anon: Option<HandlerDef>,
    /// Extra URL patterns routed to the same handlers (relative to the API
    /// root), e.g. `vlans/{vlan_id}/`.
    pub(crate) extra_patterns: &'static [&'static str],
}

impl ResourceDef {
    /// The handler whose exports define routes and `op-` paths.
    pub(crate) fn main(&self) -> Option<&HandlerDef> {
        self.auth.as_ref().or(self.anon.as_ref())
    }

    fn patterns(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if let Some(h) = self.main() {
            v.push(h.path.strip_prefix(API_ROOT).unwrap_or(h.path));
        }
        v.extend_from_slice(self.extra_patterns);
        v
    }
}

/// The route table (built once).
pub(crate) fn table() -> &'static [ResourceDef] {
    static TABLE: OnceLock<Vec<ResourceDef>> = OnceLock::new();
    TABLE.get_or_init(routes::build_table)
}

/// A matched route.
#[derive(Debug, Clone)]
pub(crate) struct RouteMatch {
    pub(crate) resource: usize,
    pub(crate) args: Vec<String>,
    pub(crate) path_op: Option<String>,
}

/// Match `segs` against a pattern's segments; `{x}` matches one non-empty
/// segment, `{x:cidr}` also an `a.b.c.d/NN` pair.
fn match_pattern(pattern: &str, path: &str) -> Option<Vec<String>> {
    let pat: Vec<&str> = pattern.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    let mut args = Vec::new();
    let mut i = 0usize;
    for (pi, p) in pat.iter().enumerate() {
        let seg = segs.get(i)?;
        if p.starts_with('{') && p.ends_with('}') {
            if seg.is_empty() {
                return None;
            }
            if p.ends_with(":cidr}") {
                // Remaining pattern segments after this one.
                let remaining = pat.len() - pi - 1;
                let left = segs.len() - i - 1;
                if left > remaining
                    && let Some(next) = segs.get(i + 1)
                    && !next.is_empty()
                    && next.len() <= 3
                    && next.bytes().all(|c| c.is_ascii_digit())
                {
                    args.push(format!("{seg}/{next}"));
                    i += 2;
                    continue;
                }
            }
            args.push(seg.to_string());
        } else if p != seg {
            return None;
        }
        i += 1;
    }
    if i == segs.len() { Some(args) } else { None }
}

/// Route `rest` (the path after `/MAAS/api/2.0/`).
pub(crate) fn route(rest: &str) -> Option<RouteMatch> {
    for (idx, res) in table().iter().enumerate() {
        for pattern in res.patterns() {
            if let Some(args) = match_pattern(pattern, rest) {
                return Some(RouteMatch {
                    resource: idx,
                    args,
                    path_op: None,
                });
            }
        }
    }
    // `…/op-<name>` (3.3+): only for operations the resource exports.
    let (head, last) = rest.rsplit_once('/')?;
    let op = last.strip_prefix("op-")?;
    let as_slash = format!("{head}/");
    for (idx, res) in table().iter().enumerate() {
        let Some(main) = res.main() else { continue };
        if !main.actions.iter().any(|a| a.op == Some(op)) {
            continue;
        }
        for pattern in res.patterns() {
            if let Some(args) = match_pattern(pattern, &as_slash) {
                return Some(RouteMatch {
                    resource: idx,
                    args,
                    path_op: Some(op.to_string()),
                });
            }
        }
    }
    None
}

/// `%XX` escapes decoded (invalid UTF-8 replaced), as WSGI's `PATH_INFO`.
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the dispatcher decided, for logging and fault injection.
#[derive(Debug, Clone, Default)]
pub(crate) struct DispatchInfo {
    pub(crate) op: Option<String>,
    pub(crate) action: Option<String>,
    pub(crate) username: Option<String>,
    /// Close the connection without answering (fault injection).
    pub(crate) drop_connection: bool,
    /// The injected fault that decided the answer, if any.
    pub(crate) fault: Option<faults::FaultKind>,
}

/// One request to the API, as the server read it.
#[derive(Debug)]
pub(crate) struct ApiRequest {
    pub(crate) method: Method,
    /// Starts with `/MAAS/api/2.0/`.
    pub(crate) path: String,
    pub(crate) query: Params,
    pub(crate) body: Params,
    pub(crate) authorization: String,
    /// The host as Django reports it (`X-Forwarded-Host`, else `Host`).
    pub(crate) host: String,
    /// `http`, or `https` behind a proxy that says so.
    pub(crate) scheme: &'static str,
    /// The body was `multipart/form-data`.
    pub(crate) multipart: bool,
}

/// Answer one API request.
pub(crate) async fn dispatch(shared: Arc<Api>, request: ApiRequest) -> (Reply, DispatchInfo) {
    let version = shared.version;
    let (mut reply, info) = dispatch_inner(shared, request).await;
    // MAAS 3.0 and 3.1 serve the lock page without `Retry-After`.
    if !version.lock_page_retry_after()
        && reply.status == StatusCode::CONFLICT
        && reply.body.as_ref() == reply::LOCK_PAGE.as_bytes()
    {
        reply.headers.retain(|(name, _)| *name != "Retry-After");
    }
    (reply, info)
}

async fn dispatch_inner(shared: Arc<Api>, request: ApiRequest) -> (Reply, DispatchInfo) {
    let ApiRequest {
        method,
        path,
        query,
        body,
        authorization,
        host,
        scheme,
        multipart,
    } = request;
    let mut info = DispatchInfo::default();
    // Django routes the decoded path (`cidr:10.0.0.0%2F24` is a CIDR).
    let decoded = percent_decode(&path);
    let rest = decoded.strip_prefix(API_ROOT).unwrap_or("");
    if rest == "describe/" || rest.ends_with("/describe/") {
        return (describe::reply(&host), info);
    }
    let Some(found) = route(rest) else {
        return (
            MaasError::not_found(format!("Unknown API endpoint: {path}.")).into(),
            info,
        );
    };
    let resource = &table()[found.resource];
    let m = method.as_str().to_ascii_uppercase();

    // Authentication (resources without an auth handler skip it).
    let (handler, user) = match (&resource.auth, &resource.anon) {
        (None, Some(anon)) => (anon, None),
        (Some(auth_handler), anon) => {
            let outcome = {
                let st = shared.state.read();
                let mut nonces = shared.nonces.lock();
                let input = auth::OAuthInput {
                    method: &m,
                    scheme,
                    host: &host,
                    path: &path,
                    header: &authorization,
                    query: &query,
                    body: &body,
                    multipart,
                };
                auth::verify(
                    &input,
                    &st.tokens,
                    &mut nonces,
                    shared.clock.wall_unix_secs(),
                )
            };
            match outcome {
                AuthOutcome::User(id) => {
                    let user = shared.state.read().users.get(&id).cloned();
                    (auth_handler, user)
                }
                AuthOutcome::Unauthorized(msg) => {
                    let reply = Reply::text(StatusCode::UNAUTHORIZED, reply::HTML, msg)
                        .with_header("WWW-Authenticate", "OAuth realm=\"OAuth\"");
                    return (reply, info);
                }
                AuthOutcome::BadRequest(msg) => {
                    return (MaasError::bad_request(msg).into(), info);
                }
                AuthOutcome::NotSigned => match anon {
                    Some(a) if a.allowed_methods().contains(&m.as_str()) => (a, None),
                    _ => {
                        return (
                            Reply::text(StatusCode::UNAUTHORIZED, reply::PLAIN, "Forbidden"),
                            info,
                        );
                    }
                },
            }
        }
        (None, None) => {
            return (
                MaasError::not_found(format!("Unknown API endpoint: {path}.")).into(),
                info,
            );
        }
    };
    info.username = user.as_ref().map(|u| u.username.clone());

    let allowed = handler.allowed_methods();
    if !allowed.contains(&m.as_str()) {
        let reply = Reply::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Some(reply::HTML),
            bytes::Bytes::new(),
        )
        .with_header("Allow", allowed.join(", "));
        return (reply, info);
    }
    let op = query
        .get("op")
        .filter(|o| !o.is_empty())
        .or_else(|| body.get("op").filter(|o| !o.is_empty()))
        .map(str::to_string)
        .or(found.path_op.clone());
    info.op = op.clone();
    let Some(action) = handler.find(&m, op.as_deref()) else {
        let shown = op.as_deref().unwrap_or("None");
        return (
            MaasError::bad_request(format!("Unrecognised signature: method={m} op={shown}")).into(),
            info,
        );
    };
    info.action = Some(format!("{}.{}", handler.name, action.name()));
    if !shared.version.has_vm_hosts()
        && [
            "VmHostsHandler",
            "VmHostHandler",
            "PodsHandler",
            "PodHandler",
        ]
        .contains(&handler.name)
    {
        return (MaasError::gone(reply::VMHOST_REMOVED).into(), info);
    }
    if action.admin && !user.as_ref().map(|u| u.is_superuser).unwrap_or(false) {
        return (MaasError::admin_only().into(), info);
    }

    // Fault injection (after routing, so faults can target operations).
    let decision = shared.faults.lock().decide(handler.name, action.name());
    let FaultDecision {
        delay,
        reply,
        drop_after,
        reply_after,
        fault,
    } = decision;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    info.fault = fault;
    if let Some(r) = reply {
        return (r, info);
    }
    info.drop_connection = drop_after;

    let ctx = Ctx {
        query,
        body,
        user,
        args: found.args,
    };
    let result = match action.exec {
        Exec::Sync(f) => {
            shared.settle();
            f(&shared, &ctx)
        }
        Exec::Async(f) => {
            shared.settle();
            f(shared.clone(), ctx).await
        }
    };
    shared.publish_next_due();
    if let Some(r) = reply_after {
        return (r, info);
    }
    match result {
        Ok(r) => (r, info),
        Err(e) => (e.into(), info),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_op_paths() {
        let m = route("machines/").unwrap();
        assert_eq!(table()[m.resource].main().unwrap().name, "MachinesHandler");
        let m = route("machines/abc123/").unwrap();
        assert_eq!(m.args, vec!["abc123"]);
        let m = route("machines/op-allocate").unwrap();
        assert_eq!(m.path_op.as_deref(), Some("allocate"));
        assert!(route("machines/op-nonsense").is_none());
        assert!(route("machines").is_none());
        let m = route("subnets/10.0.0.0/24/").unwrap();
        assert_eq!(m.args, vec!["10.0.0.0/24"]);
        let m = route("subnets/3/").unwrap();
        assert_eq!(m.args, vec!["3"]);
        let m = route("nodes/abc/interfaces/7/").unwrap();
        assert_eq!(m.args, vec!["abc", "7"]);
        let m = route("vlans/5001/").unwrap();
        assert_eq!(table()[m.resource].main().unwrap().name, "VlanHandler");
    }
}
