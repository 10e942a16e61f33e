//! Responses as MAAS builds them: status, content type and body, in one
//! place so texts and types are easy to check against the source.

use crate::domain::error::MaasError;
use crate::model::pyfmt;
use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;

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

impl From<MaasError> for Reply {
    /// MAAS's response for each exception class.
    fn from(e: MaasError) -> Reply {
        let text = |status, ct, msg: String| Reply::text(status, ct, msg);
        match e {
            MaasError::BadRequest(m) => text(StatusCode::BAD_REQUEST, TEXT, m),
            MaasError::Form(errors) => Reply::new(
                StatusCode::BAD_REQUEST,
                Some(JSON),
                pyfmt::json_compact(&errors),
            ),
            // Through the middleware: `application/json`, no charset.
            MaasError::ModelValidation(errors) => Reply::new(
                StatusCode::BAD_REQUEST,
                Some(JSON_BARE),
                pyfmt::json_compact(&errors),
            ),
            MaasError::Forbidden(m) => text(StatusCode::FORBIDDEN, TEXT, m),
            MaasError::ForbiddenPlain(m) => text(StatusCode::FORBIDDEN, PLAIN, m),
            MaasError::NotFound(m) => text(StatusCode::NOT_FOUND, TEXT, m),
            // Piston answers Http404 itself: no charset.
            MaasError::Http404(m) => text(StatusCode::NOT_FOUND, PLAIN, m),
            MaasError::Conflict(m) => text(StatusCode::CONFLICT, TEXT, m),
            MaasError::RetriesExhausted => lock_page(),
            MaasError::Gone(m) => text(StatusCode::GONE, TEXT, m),
            MaasError::Unavailable(m) => text(StatusCode::SERVICE_UNAVAILABLE, TEXT, m),
            MaasError::Internal(m) => text(StatusCode::INTERNAL_SERVER_ERROR, TEXT, m),
        }
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
