//! Responses as MAAS builds them: status, content type and body, in one
//! place so texts and types are easy to check against the source.

use crate::pyfmt;
use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;
use std::collections::BTreeMap;

/// `text/plain; charset=utf-8` (MAAS exceptions, validation messages).
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";
/// `text/plain` (piston `rc.*` responses and a few handlers).
pub(crate) const PLAIN: &str = "text/plain";
/// Django's default (OAuth 401s, the lock page).
pub(crate) const HTML: &str = "text/html; charset=utf-8";
/// The piston JSON emitter.
pub(crate) const JSON: &str = "application/json; charset=utf-8";
/// `describe/`.
pub(crate) const JSON_BARE: &str = "application/json";

/// A complete response.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) body: Bytes,
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(crate) fn new(
        status: StatusCode,
        content_type: Option<&'static str>,
        body: impl Into<Bytes>,
    ) -> Reply {
        Reply {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// 200 with the piston emitter's pretty JSON.
    pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Reply {
        Reply::new(StatusCode::OK, Some(JSON), pyfmt::json_pretty(value))
    }

    /// 200 with compact Python-style JSON and the given content type.
    pub(crate) fn json_compact<T: Serialize + ?Sized>(
        value: &T,
        content_type: &'static str,
    ) -> Reply {
        Reply::new(
            StatusCode::OK,
            Some(content_type),
            pyfmt::json_compact(value),
        )
    }

    /// 204 with an empty body (piston `rc.DELETED`).
    pub(crate) fn deleted() -> Reply {
        Reply::new(StatusCode::NO_CONTENT, Some(PLAIN), Bytes::new())
    }

    pub(crate) fn text(
        status: StatusCode,
        content_type: &'static str,
        body: impl Into<String>,
    ) -> Reply {
        Reply::new(status, Some(content_type), body.into())
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// An error response (the status and body MAAS would send).
#[derive(Debug, Clone)]
pub(crate) struct ApiError(pub(crate) Reply);

impl ApiError {
    fn text(status: StatusCode, msg: impl Into<String>) -> ApiError {
        ApiError(Reply::text(status, TEXT, msg))
    }

    /// 400 `text/plain` (`MAASAPIBadRequest`, single validation message).
    pub(crate) fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::text(StatusCode::BAD_REQUEST, msg)
    }

    /// 400 JSON `{"field": ["msg"]}` (form errors).
    pub(crate) fn form(errors: BTreeMap<String, Vec<String>>) -> ApiError {
        ApiError(Reply::new(
            StatusCode::BAD_REQUEST,
            Some(JSON),
            pyfmt::json_compact(&errors),
        ))
    }

    /// 400 JSON with one field error.
    pub(crate) fn field(field: &str, msg: impl Into<String>) -> ApiError {
        ApiError::fields(field, vec![msg.into()])
    }

    /// 400 JSON with several errors for one field (Django runs every
    /// validator of a field and reports each message).
    pub(crate) fn fields(field: &str, msgs: Vec<String>) -> ApiError {
        let mut m = BTreeMap::new();
        m.insert(field.to_string(), msgs);
        ApiError::form(m)
    }

    /// 400 `application/json` *without* charset: a Django `ValidationError`
    /// raised outside a form (a model's `full_clean` on save), turned into
    /// a response by MAAS's exception middleware.
    pub(crate) fn model_validation(field: &str, msg: impl Into<String>) -> ApiError {
        let mut m = BTreeMap::new();
        m.insert(field.to_string(), vec![msg.into()]);
        ApiError(Reply::new(
            StatusCode::BAD_REQUEST,
            Some(JSON_BARE),
            pyfmt::json_compact(&m),
        ))
    }

    /// 500 `text/plain; charset=utf-8`: an unhandled Python exception, whose
    /// `str()` MAAS's middleware sends as the body.
    pub(crate) fn internal(msg: impl Into<String>) -> ApiError {
        ApiError::text(StatusCode::INTERNAL_SERVER_ERROR, msg)
    }

    /// 403 `text/plain` (`PermissionDenied`, often empty).
    pub(crate) fn forbidden(msg: impl Into<String>) -> ApiError {
        ApiError::text(StatusCode::FORBIDDEN, msg)
    }

    /// 403 for `@admin_method`.
    pub(crate) fn admin_only() -> ApiError {
        ApiError::forbidden("This method is reserved for admin users.")
    }

    /// 404 `text/plain; charset=utf-8` (`MAASAPINotFound` and its
    /// subclasses, MAAS's unknown-endpoint view).
    pub(crate) fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::text(StatusCode::NOT_FOUND, msg)
    }

    /// 404 `text/plain` without charset: Django's `Http404` (from
    /// `get_object_or_404` and friends), which piston answers itself.
    pub(crate) fn http404(msg: impl Into<String>) -> ApiError {
        ApiError(Reply::text(StatusCode::NOT_FOUND, PLAIN, msg))
    }

    /// 404 `No <Model> matches the given query.` (an `Http404`).
    pub(crate) fn no_match(model: &str) -> ApiError {
        ApiError::http404(format!("No {model} matches the given query."))
    }

    /// 409 `text/plain` (`NodeStateViolation`, `NodesNotAvailable`).
    pub(crate) fn conflict(msg: impl Into<String>) -> ApiError {
        ApiError::text(StatusCode::CONFLICT, msg)
    }

    /// 410 `text/plain`.
    pub(crate) fn gone(msg: impl Into<String>) -> ApiError {
        ApiError::text(StatusCode::GONE, msg)
    }

    /// 503 `text/plain` (`PodProblem`, IP exhaustion, power problems).
    pub(crate) fn unavailable(msg: impl Into<String>) -> ApiError {
        ApiError::text(StatusCode::SERVICE_UNAVAILABLE, msg)
    }

    /// The body as text (for tests and logs).
    pub(crate) fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.0.body).into_owned()
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Reply {
        e.0
    }
}

/// The 3.8 answer of every VM host endpoint.
pub(crate) const VMHOST_REMOVED: &str = "VM host (KVM) support has been removed from MAAS.";

/// The page MAAS serves when its transaction retries are exhausted
/// (`templates/409.html`, with `Retry-After: 5`).
pub(crate) const LOCK_PAGE: &str = "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n  <head>\n    <title>Error: Conflict Error</title>\n  </head>\n  <body>\n    <h2 class=\"p-heading--four\">\n      Conflict error. Try your request again, as it will most likely succeed.\n    </h2>\n  </body>\n</html>\n";

/// The 409 lock page as MAAS sends it.
pub(crate) fn lock_page() -> Reply {
    Reply::text(StatusCode::CONFLICT, HTML, LOCK_PAGE).with_header("Retry-After", "5")
}
