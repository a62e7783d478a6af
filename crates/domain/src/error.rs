//! The error type of every use case.
//!
//! Each variant but [`DomainError::Internal`] is an AWS error code and
//! carries the message AWS sends. `Internal` carries the cause for the log
//! only: the wire layer answers it with a generic `InternalErrorException`
//! and never shows its text.

use crate::ids::{IdentityId, IdentityPoolId};
use std::fmt;

/// Result alias used by every domain service.
pub type DomainResult<T> = Result<T, DomainError>;

/// An outcome a use case reports to its caller.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// `InvalidParameterException`: missing or bad input beyond the model's constraints.
    #[error("{0}")]
    InvalidParameter(String),
    /// `NotAuthorizedException`: the caller may not do this.
    #[error("{0}")]
    NotAuthorized(String),
    /// `ResourceNotFoundException`: no such pool or identity (for this account).
    #[error("{0}")]
    ResourceNotFound(String),
    /// `ResourceConflictException`: the request conflicts with existing state.
    #[error("{0}")]
    ResourceConflict(String),
    /// `LimitExceededException`: a quota is reached.
    #[error("{0}")]
    LimitExceeded(String),
    /// `ConcurrentModificationException`: parallel requests modify the same resource.
    #[error("{0}")]
    ConcurrentModification(String),
    /// `DeveloperUserAlreadyRegisteredException`.
    #[error("{0}")]
    DeveloperUserAlreadyRegistered(String),
    /// `InvalidIdentityPoolConfigurationException`.
    #[error("{0}")]
    InvalidIdentityPoolConfiguration(String),
    /// `ExternalServiceException`: an upstream (IdP, STS) did not answer usably.
    #[error("{0}")]
    ExternalService(String),
    /// `TooManyRequestsException`.
    #[error("{0}")]
    TooManyRequests(String),
    /// The database could not be reached, and the call changed nothing:
    /// it may be run again once the database is back (answered
    /// `InternalErrorException` if it does not come back in time).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// `InternalErrorException`; the text is for the log, never for the client.
    #[error("internal error: {0}")]
    Internal(InternalError),
}

/// The cause of an internal error, kept for logging.
#[derive(Debug)]
pub struct InternalError(pub Box<dyn std::error::Error + Send + Sync + 'static>);

impl fmt::Display for InternalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl DomainError {
    /// Wrap any error as an internal one.
    pub fn internal<E>(err: E) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        DomainError::Internal(InternalError(err.into()))
    }

    /// `ResourceNotFoundException` for a pool id, in AWS's words.
    pub fn pool_not_found(pool_id: &IdentityPoolId) -> Self {
        DomainError::ResourceNotFound(format!("IdentityPool '{pool_id}' not found."))
    }

    /// `ResourceNotFoundException` for an identity id, in AWS's words.
    pub fn identity_not_found(identity_id: &IdentityId) -> Self {
        DomainError::ResourceNotFound(format!("Identity '{identity_id}' not found."))
    }
}

/// Errors a storage port reports. The domain decides what each means.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique constraint refused the write; the name of the constraint.
    #[error("unique constraint {0} violated")]
    UniqueViolation(String),
    /// A row lock could not be had in time, or the transaction lost a
    /// serialization race or deadlock: the caller may retry.
    #[error("concurrent modification")]
    Contention,
    /// The database could not be reached, and nothing was changed (a
    /// commit whose outcome is unknown is never reported as this).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Every connection of the pool is busy.
    #[error("every database connection is busy")]
    Busy,
    /// Anything else.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl From<StoreError> for DomainError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Contention => DomainError::ConcurrentModification(
                "A concurrent request is modifying this resource; retry the request.".into(),
            ),
            StoreError::Unavailable(why) => DomainError::Unavailable(why),
            StoreError::Busy => DomainError::TooManyRequests(
                "Too many requests are in progress; retry with back-off.".into(),
            ),
            other => DomainError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_contention_is_a_concurrent_modification_a_lost_database_unavailable_and_the_rest_internal(
    ) {
        assert!(matches!(
            DomainError::from(StoreError::Contention),
            DomainError::ConcurrentModification(_)
        ));
        assert!(matches!(
            DomainError::from(StoreError::Unavailable("down".into())),
            DomainError::Unavailable(_)
        ));
        assert!(matches!(
            DomainError::from(StoreError::Busy),
            DomainError::TooManyRequests(_)
        ));
        assert!(matches!(
            DomainError::from(StoreError::UniqueViolation("x".into())),
            DomainError::Internal(_)
        ));
    }

    #[test]
    fn an_internal_error_displays_its_whole_cause_chain_for_the_log() {
        let io = std::io::Error::other("disk on fire");
        let err = DomainError::internal(StoreError::Other(Box::new(io)));
        assert!(err.to_string().contains("disk on fire"), "{err}");
    }
}
