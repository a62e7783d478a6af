//! Opaque `NextToken`s for keyset paging: a row sequence number, encoded so
//! clients treat it as opaque. A garbage token is an InvalidParameter.

use base64::Engine as _;

use crate::error::{DomainError, DomainResult};

const TOKEN_PREFIX: &str = "p1:";

/// The token that resumes after `seq`.
pub fn encode_cursor(seq: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{seq}"))
}

/// The sequence number a token resumes after.
pub fn decode_cursor(token: &str) -> DomainResult<i64> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| s.strip_prefix(TOKEN_PREFIX).and_then(|n| n.parse().ok()))
        .ok_or_else(|| DomainError::InvalidParameter("Invalid NextToken.".into()))
}

/// Split `rows` fetched with `limit + 1` into a page and its next token.
pub fn page<T>(mut rows: Vec<(i64, T)>, limit: u32) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|(seq, _)| encode_cursor(*seq))
    } else {
        None
    };
    (rows.into_iter().map(|(_, t)| t).collect(), next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_an_invalid_parameter() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert!(matches!(
            decode_cursor("not-a-token"),
            Err(DomainError::InvalidParameter(_))
        ));
    }

    #[test]
    fn a_page_has_a_next_token_only_when_more_rows_exist() {
        let (items, next) = page(vec![(1, 'a'), (2, 'b'), (3, 'c')], 2);
        assert_eq!(items, vec!['a', 'b']);
        assert_eq!(decode_cursor(&next.unwrap()).unwrap(), 2);
        let (items, next) = page(vec![(1, 'a')], 2);
        assert_eq!(items, vec!['a']);
        assert!(next.is_none());
    }
}
