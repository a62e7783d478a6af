//! GetOpenIdToken (the basic flow), GetCredentialsForIdentity (the
//! enhanced flow) and UnlinkIdentity.

use std::collections::BTreeMap;

use super::*;
use crate::credentials::StsError;
use crate::service::identities::{OPEN_ID_TOKEN_SECONDS, STS_SESSION_NAME, STS_SESSION_SECONDS};

const AUTH_ROLE: &str = "arn:aws:iam::000000000000:role/auth";
const GUEST_ROLE: &str = "arn:aws:iam::000000000000:role/guest";

impl World {
    /// A pool of `settings` whose roles are [`AUTH_ROLE`] and [`GUEST_ROLE`].
    async fn pool_with_roles(&self, settings: PoolSettings) -> IdentityPool {
        let pool = self.pool(settings).await;
        let roles = strings(&[
            ("authenticated", AUTH_ROLE),
            ("unauthenticated", GUEST_ROLE),
        ]);
        self.pools
            .set_roles(&account(), &pool.id, roles, BTreeMap::new(), &NotRecorded)
            .await
            .unwrap();
        pool
    }

    /// GetCredentialsForIdentity of `id` with the logins `entries`.
    async fn credentials(
        &self,
        id: &IdentityId,
        entries: &[(&str, &str)],
        custom_role: Option<&str>,
    ) -> DomainResult<crate::service::identities::Granted> {
        self.identities
            .get_credentials_for_identity(id, &logins(entries), custom_role)
            .await
    }
}

#[tokio::test]
async fn a_guest_token_names_the_identity_the_pool_and_unauthenticated() {
    let (w, pool) = open_world().await;
    let (id, token) = w.guest(&pool).await;
    let c = claims(&token);
    assert_eq!(c.iss, ISSUER);
    assert_eq!(c.sub, id);
    assert_eq!(c.aud, pool.id);
    assert_eq!(c.amr, ["unauthenticated"]);
    assert_eq!(c.exp - c.iat, OPEN_ID_TOKEN_SECONDS);
    assert_eq!(
        c.identity_pool_arn,
        format!(
            "arn:aws:cognito-identity:us-east-1:000000000000:identitypool/{}",
            pool.id
        )
    );
    assert!(c.tags.is_none());
}

#[tokio::test]
async fn a_guest_token_is_signed_from_one_snapshot_read_with_no_transaction() {
    let (w, pool) = open_world().await;
    let id = w.get_id(&pool, &[]).await;
    w.store.clear_journal();
    w.token(&id, &[]).await;
    assert_eq!(w.store.journal(), []);
}

#[tokio::test]
async fn no_guest_token_is_issued_once_the_identitys_deletion_committed() {
    let (w, pool) = open_world().await;
    let id = w.get_id(&pool, &[]).await;
    w.delete_identity(&id).await;
    let message = not_found(w.try_token(&id, &[]).await);
    assert_eq!(message, format!("Identity '{id}' not found."));
}

#[tokio::test]
async fn a_token_for_an_unknown_identity_is_not_found() {
    let w = world();
    w.open_pool().await;
    let id = IdentityId::try_from(UNKNOWN_ID).unwrap();
    let message = not_found(w.try_token(&id, &[]).await);
    assert_eq!(message, format!("Identity '{id}' not found."));
}

#[tokio::test]
async fn an_authenticated_identity_without_logins_is_refused() {
    let (w, pool) = open_world().await;
    let id = w.google_user(&pool, "g1").await;
    let message = not_authorized(w.try_token(&id, &[]).await);
    assert_eq!(message, LOGINS_DONT_MATCH);
}

#[tokio::test]
async fn an_authenticated_identity_gets_a_token_with_its_own_login_and_its_providers_in_amr() {
    let (w, pool) = open_world().await;
    let id = w.google_user(&pool, "g1").await;
    let (same, token) = w.token(&id, &[(GOOGLE, "g1")]).await;
    assert_eq!(same, id);
    assert_eq!(claims(&token).amr, ["authenticated", GOOGLE]);
}

#[tokio::test]
async fn another_users_login_does_not_open_an_authenticated_identity() {
    let (w, pool) = open_world().await;
    let id = w.google_user(&pool, "g1").await;
    let message = not_authorized(w.try_token(&id, &[(AMAZON, "a9")]).await);
    assert_eq!(message, LOGINS_DONT_MATCH);
    assert!(
        w.store.identity_count().await == 1,
        "no identity was made for a9"
    );
}

#[tokio::test]
async fn the_basic_flow_is_refused_only_when_the_pool_forbids_it_explicitly() {
    let w = world();
    let closed = w
        .pool(open_settings_where(|s| s.allow_classic_flow = Some(false)))
        .await;
    let id = w.get_id(&closed, &[]).await;
    let message = invalid(w.try_token(&id, &[]).await);
    assert_eq!(
        message,
        "Basic (classic) flow is not enabled, please use enhanced flow."
    );
    let open = w.open_pool().await;
    assert!(open.settings.allow_classic_flow.is_none());
    w.guest(&open).await;
}

#[tokio::test]
async fn a_guest_is_refused_once_the_pool_stops_taking_guests() {
    let (w, pool) = open_world().await;
    let (id, token) = w.guest(&pool).await;
    w.update_pool(&pool, settings_without_guests())
        .await
        .unwrap();
    assert_eq!(not_authorized(w.try_token(&id, &[]).await), NO_GUESTS);
    assert_eq!(
        not_authorized(w.try_token(&id, &[(COGNITO, &token)]).await),
        NO_GUESTS
    );
}

#[tokio::test]
async fn a_new_login_on_a_guest_identity_links_to_it_and_authenticates_it() {
    let (w, pool) = open_world().await;
    let (guest, _) = w.guest(&pool).await;
    let (id, token) = w.token(&guest, &[(GOOGLE, "g1")]).await;
    assert_eq!(id, guest);
    assert!(w.identity(&guest).await.authenticated);
    assert_eq!(claims(&token).amr, ["authenticated", GOOGLE]);
    assert_eq!(w.google_user(&pool, "g1").await, guest);
}

#[tokio::test]
async fn a_guest_whose_new_login_is_known_merges_into_the_logins_identity() {
    let (w, pool) = open_world().await;
    let user = w.google_user(&pool, "g1").await;
    let (guest, _) = w.guest(&pool).await;
    let (id, _) = w.token(&guest, &[(GOOGLE, "g1")]).await;
    assert_eq!(id, user, "the authenticated identity survives");
    assert!(w.identity(&guest).await.disabled);
}

#[tokio::test]
async fn a_disabled_identity_is_forbidden() {
    let (w, pool) = open_world().await;
    w.google_user(&pool, "g1").await;
    let (guest, _) = w.guest(&pool).await;
    w.token(&guest, &[(GOOGLE, "g1")]).await;
    let message = not_authorized(w.try_token(&guest, &[]).await);
    assert_eq!(message, forbidden(&guest));
}

#[tokio::test]
async fn a_cognate_token_proves_its_identity_until_it_expires() {
    let (w, pool) = open_world().await;
    let (id, token) = w.guest(&pool).await;
    let (again, _) = w.token(&id, &[(COGNITO, &token)]).await;
    assert_eq!(again, id);
    w.clock
        .advance(chrono::Duration::seconds(OPEN_ID_TOKEN_SECONDS));
    let message = not_authorized(w.try_token(&id, &[(COGNITO, &token)]).await);
    assert_eq!(message, "Invalid login token. Token expired.");
}

#[tokio::test]
async fn a_cognate_token_of_another_pool_is_refused() {
    let (w, pool) = open_world().await;
    let (id, _) = w.guest(&pool).await;
    let (_, foreign) = w.guest(&w.open_pool().await).await;
    let message = not_authorized(w.try_token(&id, &[(COGNITO, &foreign)]).await);
    assert_eq!(
        message,
        "Invalid login token. Token is for another identity pool."
    );
}

#[tokio::test]
async fn principal_tags_map_login_claims_by_the_pools_map_for_the_provider() {
    let (w, pool) = open_world().await;
    let map = google_department_map();
    w.pools
        .set_principal_tag_map(&account(), &pool.id, map, &NotRecorded)
        .await
        .unwrap();
    let login = r#"{"sub":"g1","aud":"google-app","department":"eng"}"#;
    let id = w.google_user(&pool, login).await;
    let (_, token) = w.token(&id, &[(GOOGLE, login)]).await;
    let tags = claims(&token).tags.expect("session tags").principal_tags;
    assert_eq!(
        tags,
        BTreeMap::from([
            ("client".to_owned(), vec!["google-app".to_owned()]),
            ("dept".to_owned(), vec!["eng".to_owned()]),
            ("username".to_owned(), vec!["g1".to_owned()]),
        ])
    );
}

#[tokio::test]
async fn credentials_come_from_sts_for_the_identitys_role_with_cognates_token() {
    let w = world();
    let pool = w.pool_with_roles(open_settings()).await;
    let (guest, _) = w.guest(&pool).await;
    let user = w.google_user(&pool, "g1").await;
    let granted = w.credentials(&guest, &[], None).await.unwrap();
    assert_eq!(granted.identity_id, guest);
    assert_eq!(granted.credentials.access_key_id, "ASIATESTKEY");
    assert_eq!(granted.role_arn, GUEST_ROLE);
    w.credentials(&user, &[(GOOGLE, "g1")], None).await.unwrap();
    let calls = w.sts.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].role_arn, GUEST_ROLE);
    assert_eq!(calls[1].role_arn, AUTH_ROLE);
    assert_eq!(calls[1].session_name, STS_SESSION_NAME);
    assert_eq!(calls[1].duration_seconds, STS_SESSION_SECONDS);
    assert_eq!(claims(&calls[1].token).sub, user);
}

#[tokio::test]
async fn the_enhanced_flow_works_where_the_basic_flow_is_forbidden() {
    let w = world();
    let settings = open_settings_where(|s| s.allow_classic_flow = Some(false));
    let pool = w.pool_with_roles(settings).await;
    let id = w.get_id(&pool, &[]).await;
    let granted = w.credentials(&id, &[], None).await;
    assert!(granted.is_ok(), "{granted:?}");
}

#[tokio::test]
async fn a_custom_role_of_another_account_is_refused_before_sts_is_asked() {
    let w = world();
    let pool = w.pool_with_roles(open_settings()).await;
    let user = w.google_user(&pool, "g1").await;
    let foreign = "arn:aws:iam::111111111111:role/auth";
    let message = not_authorized(w.credentials(&user, &[(GOOGLE, "g1")], Some(foreign)).await);
    assert_eq!(message, format!("Access to Role '{foreign}' is forbidden."));
    assert!(w.sts.calls().is_empty());
}

#[tokio::test]
async fn a_role_sts_refuses_is_an_invalid_pool_configuration() {
    let w = world_with(
        Limits::default(),
        RecordingSts::refusing(StsError::RoleRefused("AccessDenied".into())),
    );
    let pool = w.pool_with_roles(open_settings()).await;
    let (guest, _) = w.guest(&pool).await;
    let refused = w.credentials(&guest, &[], None).await;
    assert!(
        matches!(
            refused,
            Err(DomainError::InvalidIdentityPoolConfiguration(_))
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn unlinking_the_last_login_disables_the_identity() {
    let (w, pool) = open_world().await;
    let id = w.google_user(&pool, "g1").await;
    w.store.clear_journal();
    w.unlink(&id, &[(GOOGLE, "g1")], GOOGLE).await.unwrap();
    assert!(w.last_commit_updated(&id));
    let identity = w.identity(&id).await;
    assert!(identity.disabled);
    assert!(w.store.logins(&id).await.is_empty());
    assert_ne!(w.google_user(&pool, "g1").await, id, "the user starts over");
}

#[tokio::test]
async fn unlinking_one_of_two_logins_keeps_the_identity_usable() {
    let (w, pool) = open_world().await;
    let id = w.google_and_amazon_user(&pool).await;
    w.unlink(&id, &[(GOOGLE, "g1")], GOOGLE).await.unwrap();
    assert!(!w.identity(&id).await.disabled);
    assert_eq!(w.providers(&id).await, [AMAZON]);
}

#[tokio::test]
async fn unlinking_needs_a_login_of_the_identity_itself() {
    let (w, pool) = open_world().await;
    let id = w.google_user(&pool, "g1").await;
    w.google_user(&pool, "g2").await;
    let message = not_authorized(w.unlink(&id, &[(GOOGLE, "g2")], GOOGLE).await);
    assert_eq!(message, LOGINS_DONT_MATCH);
    assert_eq!(w.providers(&id).await, [GOOGLE]);
}

#[tokio::test]
async fn unlinking_never_removes_developer_logins() {
    let (w, pool) = open_world().await;
    let id = w.google_user(&pool, "g1").await;
    w.link(&pool, &id, &[(DEV, "alice")]).await;
    w.unlink(&id, &[(GOOGLE, "g1")], DEV).await.unwrap();
    assert_eq!(w.providers(&id).await, [GOOGLE, DEV]);
}
