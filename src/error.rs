//! The one error type of Settee, and the one table that maps every error to
//! CouchDB's wire form: an HTTP status and a `{"error": …, "reason": …}` body.
//!
//! Domain and storage code return [`Error`]; HTTP handlers turn it into a
//! response through the `ResponseError` impl at the bottom of this file, so
//! the mapping lives in exactly one place.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// Every failure a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 `bad_request` with a free-form reason.
    #[error("{0}")]
    BadRequest(String),
    /// 400 `illegal_database_name`.
    #[error("Name: '{0}'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter.")]
    IllegalDatabaseName(String),
    /// 400 `illegal_docid`.
    #[error("{0}")]
    IllegalDocId(String),
    /// 400 `illegal_partition`: a partition name CouchDB refuses.
    #[error("{0}")]
    IllegalPartition(String),
    /// 400 `doc_validation`.
    #[error("{0}")]
    DocValidation(String),
    /// 400 `invalid_design_doc`: a design document CouchDB would refuse.
    #[error("{0}")]
    InvalidDesignDoc(String),
    /// 400 `bad_content_type` — CouchDB answers this with 415.
    #[error("Content-Type must be application/json")]
    BadContentType,
    /// 400 `query_parse_error` for a malformed query parameter.
    #[error("{0}")]
    QueryParseError(String),
    /// 415 `bad_content_type` with a reason of its own.
    #[error("{0}")]
    UnsupportedContentEncoding(String),
    /// 416 for a `Range` outside the attachment.
    #[error("Requested range not satisfiable")]
    RangeNotSatisfiable,
    /// 401 `unauthorized`: no or wrong credentials, or not a server admin.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `forbidden`: authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `not_found` with a reason such as `missing`, `deleted` or `Database does not exist.`.
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`; carries the methods the resource does allow.
    #[error("Only {0} allowed")]
    MethodNotAllowed(String),
    /// 406 `not_acceptable`.
    #[error("{0}")]
    NotAcceptable(String),
    /// 409 `conflict`.
    #[error("Document update conflict.")]
    Conflict,
    /// 409 `not_found` `missing_rev`: a write names a revision the
    /// document does not have (CouchDB's `{{not_found, missing}, Rev}`).
    #[error("missing_rev")]
    MissingRev,
    /// 412 `file_exists`.
    #[error("The database could not be created, the file already exists.")]
    FileExists,
    /// 412 `precondition_failed`.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 412 `missing_stub`: an attachment stub the previous revision lacks.
    #[error("{0}")]
    MissingStub(String),
    /// 413 `document_too_large`.
    #[error("{0}")]
    DocumentTooLarge(String),
    /// 413 `too_large`.
    #[error("the request entity is too large")]
    RequestTooLarge,
    /// 501 `not_implemented`: a CouchDB feature Settee does not have
    /// (JavaScript filter functions, for one).
    #[error("{0}")]
    NotImplemented(String),
    /// A Mango (`_index`, `_find`, `_explain`) error with CouchDB's own
    /// status and `error` string (`invalid_operator`, `no_usable_index`, …).
    #[error("{reason}")]
    Mango {
        status: u16,
        error: &'static str,
        reason: String,
    },
    /// 500 from the storage engine: the disk, not the client.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    /// 500 for stored data that cannot be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<crate::couch::rev::InvalidRev> for Error {
    fn from(_: crate::couch::rev::InvalidRev) -> Self {
        Error::bad_request("Invalid rev format")
    }
}

impl Error {
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Error::BadRequest(reason.into())
    }

    pub fn not_found(reason: impl Into<String>) -> Self {
        Error::NotFound(reason.into())
    }

    pub fn db_not_found() -> Self {
        Error::NotFound("Database does not exist.".into())
    }

    /// The status code and CouchDB `error` string of this error.
    pub fn status_and_name(&self) -> (StatusCode, &'static str) {
        match self {
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::IllegalDatabaseName(_) => (StatusCode::BAD_REQUEST, "illegal_database_name"),
            Error::IllegalDocId(_) => (StatusCode::BAD_REQUEST, "illegal_docid"),
            Error::IllegalPartition(_) => (StatusCode::BAD_REQUEST, "illegal_partition"),
            Error::DocValidation(_) => (StatusCode::BAD_REQUEST, "doc_validation"),
            Error::InvalidDesignDoc(_) => (StatusCode::BAD_REQUEST, "invalid_design_doc"),
            Error::BadContentType | Error::UnsupportedContentEncoding(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_content_type")
            }
            Error::RangeNotSatisfiable => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                "requested_range_not_satisfiable",
            ),
            Error::QueryParseError(_) => (StatusCode::BAD_REQUEST, "query_parse_error"),
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Error::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "not_acceptable"),
            Error::Conflict => (StatusCode::CONFLICT, "conflict"),
            Error::MissingRev => (StatusCode::CONFLICT, "not_found"),
            Error::FileExists => (StatusCode::PRECONDITION_FAILED, "file_exists"),
            Error::PreconditionFailed(_) => {
                (StatusCode::PRECONDITION_FAILED, "precondition_failed")
            }
            Error::MissingStub(_) => (StatusCode::PRECONDITION_FAILED, "missing_stub"),
            Error::DocumentTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "document_too_large"),
            Error::RequestTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Error::NotImplemented(_) => (StatusCode::NOT_IMPLEMENTED, "not_implemented"),
            Error::Mango { status, error, .. } => (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
                error,
            ),
            Error::Storage(_) | Error::Corrupt(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error")
            }
        }
    }

    /// The `{"error","reason"}` pair as JSON, as used inside `_bulk_docs`
    /// results and `_all_docs` rows as well as in error responses.
    pub fn body(&self) -> serde_json::Value {
        let (_, name) = self.status_and_name();
        json!({"error": name, "reason": self.to_string()})
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.status_and_name().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, _) = self.status_and_name();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut builder = HttpResponse::build(status);
        if let Error::MethodNotAllowed(allow) = self {
            builder.insert_header((header::ALLOW, allow.as_str()));
        }
        builder
            .insert_header((header::CACHE_CONTROL, "must-revalidate"))
            .content_type("application/json")
            .body(format!("{}\n", self.body()))
    }
}
