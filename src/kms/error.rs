//! KMS errors with AWS's exception names.

use std::fmt;

/// AWS KMS exception names. `code()` is what the CLI prints; `audit_code()` is
/// what CloudTrail records (it shortens AccessDeniedException to AccessDenied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    AccessDenied,
    Disabled,
    InvalidState,
    NotFound,
    InvalidCiphertext,
    IncorrectKey,
    Validation,
    AlreadyExists,
    LimitExceeded,
    InvalidGrantToken,
    MalformedPolicyDocument,
    /// The vault or the audit log failed underneath the request.
    Internal,
}

impl ErrorCode {
    pub fn exception_name(self) -> &'static str {
        match self {
            ErrorCode::AccessDenied => "AccessDeniedException",
            ErrorCode::Disabled => "DisabledException",
            ErrorCode::InvalidState => "KMSInvalidStateException",
            ErrorCode::NotFound => "NotFoundException",
            ErrorCode::InvalidCiphertext => "InvalidCiphertextException",
            ErrorCode::IncorrectKey => "IncorrectKeyException",
            ErrorCode::Validation => "ValidationException",
            ErrorCode::AlreadyExists => "AlreadyExistsException",
            ErrorCode::LimitExceeded => "LimitExceededException",
            ErrorCode::InvalidGrantToken => "InvalidGrantTokenException",
            ErrorCode::MalformedPolicyDocument => "MalformedPolicyDocumentException",
            ErrorCode::Internal => "KMSInternalException",
        }
    }

    pub fn audit_code(self) -> &'static str {
        match self {
            ErrorCode::AccessDenied => "AccessDenied",
            other => other.exception_name(),
        }
    }
}

/// A failed KMS request: an AWS exception and a message that says who was
/// refused what, on which key, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsError {
    pub code: ErrorCode,
    pub message: String,
}

impl KmsError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        KmsError {
            code,
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        KmsError::new(ErrorCode::Validation, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        KmsError::new(ErrorCode::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        KmsError::new(ErrorCode::Internal, message)
    }
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.exception_name(), self.message)
    }
}

impl std::error::Error for KmsError {}
