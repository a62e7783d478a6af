//! The wire form of every failure, mapped once.
//!
//! Policy: a client sees an AWS error code and AWS's message for it. The
//! text of an internal failure (SQL, I/O, a bug) never reaches the client:
//! it is logged with the request id and answered with a generic
//! `InternalErrorException` (HTTP 500). [`ApiError::from`] for
//! [`DomainError`] has no catch-all arm, so a new domain error does not
//! compile until someone decides its code.

use actix_web::http::StatusCode;
use cognate_domain::DomainError;

use crate::sigv4::SigV4Error;
use crate::validation::RequestError;

/// An error answer: code, message, status; plus the cause to log, if internal.
#[derive(Debug)]
pub struct ApiError {
    /// The `__type` (and `x-amzn-ErrorType`) value.
    pub code: &'static str,
    /// The `message` value.
    pub message: String,
    /// HTTP status.
    pub status: StatusCode,
    /// Internal detail for the log; never sent.
    pub internal: Option<String>,
    /// Close the connection after answering (the rest of the request may still be arriving).
    pub close_connection: bool,
    /// The database could not be reached and the call changed nothing: it
    /// may be run again once the database is back.
    pub database_unavailable: bool,
}

impl ApiError {
    /// A client error (HTTP 400) with AWS's code and message.
    pub fn client(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
            internal: None,
            close_connection: false,
            database_unavailable: false,
        }
    }

    /// An internal error: the cause is logged, the client sees a generic text.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError {
            code: "InternalErrorException",
            message: "An internal error occurred. Try again later.".into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            internal: Some(cause.to_string()),
            close_connection: false,
            database_unavailable: false,
        }
    }

    /// `UnknownOperationException` for an unrecognised `X-Amz-Target`.
    pub fn unknown_operation() -> Self {
        ApiError::client(
            "UnknownOperationException",
            "Unknown operation: send POST / with the header \
             X-Amz-Target: AWSCognitoIdentityService.<Operation>.",
        )
    }

    /// `TooManyRequestsException` for a call over its account's quota, with
    /// the text AWS's throttling answers carry.
    pub fn too_many_requests() -> Self {
        ApiError::client("TooManyRequestsException", "Rate exceeded")
    }

    /// The same error, answered with `Connection: close`.
    pub fn closing(mut self) -> Self {
        self.close_connection = true;
        self
    }

    /// `SerializationException`.
    pub fn serialization(message: impl Into<String>) -> Self {
        ApiError::client("SerializationException", message)
    }

    /// The JSON body AWS sends for this error.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "__type": self.code, "message": self.message })
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::InvalidParameter(m) => ApiError::client("InvalidParameterException", m),
            DomainError::NotAuthorized(m) => ApiError::client("NotAuthorizedException", m),
            DomainError::ResourceNotFound(m) => ApiError::client("ResourceNotFoundException", m),
            DomainError::ResourceConflict(m) => ApiError::client("ResourceConflictException", m),
            DomainError::LimitExceeded(m) => ApiError::client("LimitExceededException", m),
            DomainError::ConcurrentModification(m) => {
                ApiError::client("ConcurrentModificationException", m)
            }
            DomainError::DeveloperUserAlreadyRegistered(m) => {
                ApiError::client("DeveloperUserAlreadyRegisteredException", m)
            }
            DomainError::InvalidIdentityPoolConfiguration(m) => {
                ApiError::client("InvalidIdentityPoolConfigurationException", m)
            }
            DomainError::ExternalService(m) => ApiError::client("ExternalServiceException", m),
            DomainError::TooManyRequests(m) => ApiError::client("TooManyRequestsException", m),
            DomainError::Unavailable(why) => ApiError {
                database_unavailable: true,
                ..ApiError::internal(format!("database unavailable: {why}"))
            },
            DomainError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(err: RequestError) -> Self {
        match err {
            RequestError::Serialization(m) => ApiError::serialization(m),
            RequestError::Validation(m) => ApiError::client("ValidationException", m),
        }
    }
}

impl From<SigV4Error> for ApiError {
    fn from(err: SigV4Error) -> Self {
        ApiError {
            code: err.code(),
            message: err.message(),
            status: StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST),
            internal: None,
            close_connection: false,
            database_unavailable: false,
        }
    }
}
