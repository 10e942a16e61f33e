//! MAAS's answers in MAAS's terms: the exception classes its handlers raise
//! (and the Django ones its middleware turns into responses). The HTTP
//! layer maps each to a status, content type and body
//! (`http::reply`); the domain never sees HTTP types.

use std::collections::BTreeMap;

/// A failed MAAS operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MaasError {
    /// `MAASAPIBadRequest` (or a single-message validation error): 400 text.
    BadRequest(String),
    /// `MAASAPIValidationError(form.errors)`: 400 JSON `{"field": [..]}`.
    Form(BTreeMap<String, Vec<String>>),
    /// A Django `ValidationError` raised outside a form (a model's
    /// `full_clean` on save), through MAAS's middleware: 400 JSON.
    ModelValidation(BTreeMap<String, Vec<String>>),
    /// `PermissionDenied`: 403 text (often empty).
    Forbidden(String),
    /// A handler's own 403 answered as plain `text/plain`.
    ForbiddenPlain(String),
    /// `MAASAPINotFound` and subclasses: 404 text.
    NotFound(String),
    /// Django's `Http404` (`get_object_or_404`): 404, answered by piston.
    Http404(String),
    /// `NodeStateViolation`, `NodesNotAvailable`: 409 text.
    Conflict(String),
    /// A transaction that kept failing (serialization, a violated foreign
    /// key): MAAS's 409 conflict page.
    RetriesExhausted,
    /// 410.
    Gone(String),
    /// `PodProblem`, IP exhaustion, power problems: 503 text.
    Unavailable(String),
    /// An unhandled Python exception: 500 with its `str()`.
    Internal(String),
}

impl MaasError {
    pub(crate) fn bad_request(msg: impl Into<String>) -> MaasError {
        MaasError::BadRequest(msg.into())
    }

    pub(crate) fn form(errors: BTreeMap<String, Vec<String>>) -> MaasError {
        MaasError::Form(errors)
    }

    /// A form error on one field.
    pub(crate) fn field(field: &str, msg: impl Into<String>) -> MaasError {
        MaasError::fields(field, vec![msg.into()])
    }

    /// Several errors for one field (Django runs every validator of a
    /// field and reports each message).
    pub(crate) fn fields(field: &str, msgs: Vec<String>) -> MaasError {
        MaasError::Form(BTreeMap::from([(field.to_string(), msgs)]))
    }

    pub(crate) fn model_validation(field: &str, msg: impl Into<String>) -> MaasError {
        MaasError::ModelValidation(BTreeMap::from([(field.to_string(), vec![msg.into()])]))
    }

    pub(crate) fn internal(msg: impl Into<String>) -> MaasError {
        MaasError::Internal(msg.into())
    }

    pub(crate) fn forbidden(msg: impl Into<String>) -> MaasError {
        MaasError::Forbidden(msg.into())
    }

    pub(crate) fn forbidden_plain(msg: impl Into<String>) -> MaasError {
        MaasError::ForbiddenPlain(msg.into())
    }

    /// `@admin_method`.
    pub(crate) fn admin_only() -> MaasError {
        MaasError::forbidden("This method is reserved for admin users.")
    }

    pub(crate) fn not_found(msg: impl Into<String>) -> MaasError {
        MaasError::NotFound(msg.into())
    }

    pub(crate) fn http404(msg: impl Into<String>) -> MaasError {
        MaasError::Http404(msg.into())
    }

    /// `No <Model> matches the given query.` (an `Http404`).
    pub(crate) fn no_match(model: &str) -> MaasError {
        MaasError::http404(format!("No {model} matches the given query."))
    }

    pub(crate) fn conflict(msg: impl Into<String>) -> MaasError {
        MaasError::Conflict(msg.into())
    }

    pub(crate) fn gone(msg: impl Into<String>) -> MaasError {
        MaasError::Gone(msg.into())
    }

    pub(crate) fn unavailable(msg: impl Into<String>) -> MaasError {
        MaasError::Unavailable(msg.into())
    }

    /// The error's text as MAAS would send it (JSON for form errors).
    pub(crate) fn text(&self) -> String {
        match self {
            MaasError::Form(m) | MaasError::ModelValidation(m) => {
                crate::model::pyfmt::json_compact(m)
            }
            MaasError::RetriesExhausted => "Conflict error".to_string(),
            MaasError::BadRequest(s)
            | MaasError::Forbidden(s)
            | MaasError::ForbiddenPlain(s)
            | MaasError::NotFound(s)
            | MaasError::Http404(s)
            | MaasError::Conflict(s)
            | MaasError::Gone(s)
            | MaasError::Unavailable(s)
            | MaasError::Internal(s) => s.clone(),
        }
    }
}
