//! The transaction-scoped advisory locks on accounts, pools and
//! identities, and their keys. A leaf: it imports no other module of the
//! crate but the crate root.

use cognate_domain::ports::StoreError;

use crate::{map_err, PgTx};

/// The kinds of the advisory locks on accounts, pools and identities: the lock on
/// `<kind><id>` is keyed `hashtextextended(kind || id, 0)` wherever it is
/// taken, so the statements that take several at once use the same key.
pub(crate) const ACCOUNT_LOCK: &str = "account:";
pub(crate) const POOL_LOCK: &str = "pool:";
pub(crate) const IDENTITY_LOCK: &str = "identity:";

/// Take a transaction-scoped advisory lock on `<kind><id>`, shared or exclusive.
pub(crate) async fn advisory_lock(
    tx: &mut PgTx,
    kind: &str,
    id: &str,
    exclusive: bool,
) -> Result<(), StoreError> {
    let sql = if exclusive {
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || $2, 0))"
    } else {
        "SELECT pg_advisory_xact_lock_shared(hashtextextended($1 || $2, 0))"
    };
    sqlx::query(sql)
        .bind(kind)
        .bind(id)
        .execute(&mut *tx.tx)
        .await
        .map_err(map_err)?;
    Ok(())
}
