//! The operator console in a real headless Chromium (Debian's `chromium`
//! and `chromedriver`), against the real service, PostgreSQL and the tests'
//! OpenID provider (`tests/support/oidc`), which signs in the user named by
//! `login_hint` without a login page. Every page is saved as a screenshot
//! under `target/screenshots/console-*.png`.
//!
//! Who is who (`[[console.operators]]` of these tests):
//! - `olivia`: operator of account A;
//! - `victor`: viewer of account A;
//! - `admin…` (group `admins`): operator of every account;
//! - `alice`: nobody (no entry matches her).

use cognate_server::config::{ConsoleOperatorSettings, ConsoleRole, OidcProviderSettings};
use cognate_tests::browser::{self, Browser};
use cognate_tests::oidc::{self, ConfidentialClient, OidcOptions, OidcProvider};
use cognate_tests::serve::free_port;

use aws_sdk_cognitoidentity::types::AmbiguousRoleResolutionType;

use crate::helpers::{
    create_pool_with, describe_identity, describe_pool, developer_token, get_id, get_roles,
    set_roles, spawn_app_with, TestApp, ACCOUNT_A, ACCOUNT_B,
};
use crate::steps::{equals_rule_mapping, get, identity_logins, json_body};

const CLIENT_ID: &str = "cognate-console";
const CLIENT_SECRET: &str = "console-test-secret";
const DEV_PROVIDER: &str = "login.console.test";

/// The app with its console, the OpenID provider the operators sign in
/// with (also declared as an upstream provider of account A), a browser.
struct World {
    app: TestApp,
    idp: OidcProvider,
    console: String,
    browser: Browser,
}

fn rule(
    sub: Option<String>,
    group: Option<&str>,
    accounts: &[&str],
    role: ConsoleRole,
) -> ConsoleOperatorSettings {
    ConsoleOperatorSettings {
        sub,
        group: group.map(str::to_owned),
        accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
        role,
    }
}

/// Whether DescribeIdentity finds `identity`.
async fn identity_exists(client: &aws_sdk_cognitoidentity::Client, identity: &str) -> bool {
    describe_identity(client, identity).send().await.is_ok()
}

/// Everything started, or `None` (a skip) where Chromium or node is missing.
async fn world() -> Option<World> {
    if !browser::available() {
        cognate_tests::skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return None;
    }
    if !oidc::node_available() {
        cognate_tests::skip("node is not installed: the operators' OpenID provider runs on it");
        return None;
    }
    let port = free_port();
    let console = format!("http://127.0.0.1:{port}");
    let idp = oidc::start_with(OidcOptions {
        confidential_clients: vec![ConfidentialClient {
            id: CLIENT_ID.into(),
            secret: CLIENT_SECRET.into(),
            redirect_uri: format!("{console}/auth/callback"),
        }],
        ..OidcOptions::default()
    })
    .await
    .expect("the OpenID provider starts");
    let (issuer, client) = (idp.issuer.clone(), idp.client_id.clone());
    let app = spawn_app_with(move |s| {
        s.console.bind = Some(([127, 0, 0, 1], port).into());
        s.console.issuer = Some(issuer.as_str().try_into().unwrap());
        s.console.client_id = Some(CLIENT_ID.into());
        s.console.client_secret = Some(CLIENT_SECRET.to_owned().into());
        s.console.operators = vec![
            rule(
                Some(oidc::subject_of("olivia")),
                None,
                &[ACCOUNT_A],
                ConsoleRole::Operator,
            ),
            rule(
                Some(oidc::subject_of("victor")),
                None,
                &[ACCOUNT_A],
                ConsoleRole::Viewer,
            ),
            rule(None, Some("admins"), &["*"], ConsoleRole::Operator),
        ];
        s.oidc_providers.push(OidcProviderSettings {
            account: ACCOUNT_A.to_owned().try_into().unwrap(),
            url: issuer.try_into().unwrap(),
            client_ids: vec![client],
        });
    })
    .await;
    assert_eq!(app.console_address.as_deref(), Some(console.as_str()));
    let browser = browser::start().await.expect("chromium starts");
    Some(World {
        app,
        idp,
        console,
        browser,
    })
}

impl World {
    /// Go to `path` of the console.
    async fn visit(&self, path: &str) {
        let url = format!("{}{path}", self.console);
        self.browser.goto(&url).await.unwrap();
    }

    /// Fill the edit form's `fields` (selector, value) and submit it.
    async fn submit_edit(&self, fields: &[(&str, &str)]) {
        for (field, value) in fields {
            self.browser.fill(field, value).await.unwrap();
        }
        self.browser.submit_form("form.edit").await.unwrap();
    }

    /// Confirm the change on the confirmation page; wait for its `notice`.
    async fn confirm(&self, notice: &str) {
        self.browser.submit_form("form.confirm").await.unwrap();
        self.expect_text("p.notice", notice).await;
    }

    /// Wait until the element `css` shows `text`.
    async fn expect_text(&self, css: &str, text: &str) {
        self.browser.wait_for_text(css, text).await.unwrap();
    }

    /// Sign in as `user` at the provider, then land on `next`.
    async fn sign_in(&self, user: &str, next: &str) {
        self.sign_in_with(&format!("login_hint={user}&next={next}"), next)
            .await;
    }

    /// Sign in with these `/login` parameters, then land on `next`.
    async fn sign_in_with(&self, params: &str, next: &str) {
        self.browser
            .goto(&format!("{}/login?{params}", self.console))
            .await
            .expect("the sign-in starts");
        self.browser
            .wait_for_url(&format!("{}{next}", self.console))
            .await
            .expect("signed in, back on the console");
    }

    async fn sign_out(&self) {
        self.browser
            .submit_form("form[action='/logout']")
            .await
            .expect("sign out");
        self.browser
            .wait_for_url("/signin")
            .await
            .expect("signed out");
    }

    /// Open `path` again and again (the audit trail's batches are written
    /// within `audit.flush_interval_ms`) until `css` shows; its text.
    async fn reload_until(&self, path: &str, css: &str) -> String {
        for _ in 0..50 {
            self.browser
                .goto(&format!("{}{path}", self.console))
                .await
                .unwrap();
            if self.browser.exists(css).await.unwrap() {
                return self.browser.text_of(css).await.unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{css} never showed on {path}");
    }

    /// Fill the `card`th search form of account A's identity finder with
    /// `fields`, and submit it.
    async fn find(&self, card: usize, fields: &[(&str, &str)]) {
        self.browser
            .goto(&format!("{}/accounts/{ACCOUNT_A}/identities", self.console))
            .await
            .unwrap();
        for (css, value) in fields {
            self.browser.fill(css, value).await.unwrap();
        }
        self.browser
            .submit_form(&format!("form.card:nth-of-type({card})"))
            .await
            .unwrap();
    }

    async fn shot(&self, name: &str) {
        self.browser
            .screenshot(&format!("console-{name}"))
            .await
            .expect("a screenshot");
    }

    /// A page as a plain HTTP client sees it with the browser's session.
    fn session_cookie(&self, value: &str) -> String {
        format!("cognate-console={value}")
    }

    async fn cookie(&self) -> String {
        self.browser
            .get_named_cookie("cognate-console")
            .await
            .expect("the session cookie")
            .value()
            .to_owned()
    }

    /// POST a form to the console with the browser's session cookie (a
    /// redirect is not followed).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let cookie = self.session_cookie(&self.cookie().await);
        let response = cognate_tests::http_client()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}{path}", self.console))
            .header("cookie", cookie)
            .form(form)
            .send()
            .await
            .expect("the console answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// The CSRF token of the page the browser shows.
    async fn csrf(&self) -> String {
        let source = self.browser.source().await.unwrap();
        let at = source
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token");
        let rest = &source[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    /// A pool of account A with a developer provider, the OpenID provider
    /// declared, roles and a rules mapping; its id.
    async fn pool(&self, name: &str) -> String {
        let arn = format!(
            "arn:aws:iam::{ACCOUNT_A}:oidc-provider/{}",
            self.idp.provider_name()
        );
        let pool = create_pool_with(&self.app.client, name, true, |r| {
            r.developer_provider_name(DEV_PROVIDER)
                .open_id_connect_provider_arns(&arn)
                .supported_login_providers("graph.facebook.com", "1234567890")
        })
        .await;
        let signed_in = format!("arn:aws:iam::{ACCOUNT_A}:role/signed-in");
        let guest = format!("arn:aws:iam::{ACCOUNT_A}:role/guest");
        let admin = format!("arn:aws:iam::{ACCOUNT_A}:role/admin");
        let mapping = equals_rule_mapping(
            "isAdmin",
            "true",
            admin,
            AmbiguousRoleResolutionType::AuthenticatedRole,
        );
        let roles = [("authenticated", &*signed_in), ("unauthenticated", &*guest)];
        set_roles(&self.app.client, &pool, &roles)
            .role_mappings(self.idp.provider_name(), mapping)
            .send()
            .await
            .expect("roles set");
        pool
    }

    /// A [`World::pool`] with `guests` guest identities.
    async fn pool_with_guests(&self, name: &str, guests: usize) -> String {
        let pool = self.pool(name).await;
        for _ in 0..guests {
            self.app.guest(&pool).await;
        }
        pool
    }

    /// A [`World::pool`] and the identity of its developer user `user`.
    async fn pool_with_user(&self, name: &str, user: &str) -> (String, String) {
        let pool = self.pool(name).await;
        let identity = self.developer_identity(&pool, user, None).await;
        (pool, identity)
    }

    /// The identity of developer user `user` in `pool` (also linked to the
    /// OpenID provider's `upstream` user, when given).
    async fn developer_identity(&self, pool: &str, user: &str, upstream: Option<&str>) -> String {
        let mut call = developer_token(&self.app.client, pool, (DEV_PROVIDER, user));
        if let Some(upstream) = upstream {
            let token = self.idp.id_token(upstream).await.expect("an id token");
            call = call.logins(self.idp.provider_name(), token);
        }
        call.send()
            .await
            .expect("a developer identity")
            .identity_id
            .expect("an identity id")
    }

    async fn logins_of(&self, identity: &str) -> Vec<String> {
        identity_logins(&self.app.client, identity).await
    }
}

#[tokio::test]
async fn an_unauthenticated_request_is_sent_to_sign_in_and_only_configured_operators_get_in() {
    let Some(w) = world().await else { return };
    let pools = format!("/accounts/{ACCOUNT_A}/pools");
    w.visit(&pools).await;
    let url = w.browser.wait_for_url("/signin").await.unwrap();
    assert!(url.contains("next=/accounts/"), "{url}");
    w.shot("signin").await;
    // The button goes to the provider, which signs in alice: nobody here.
    w.browser.click("a.button.primary").await.unwrap();
    w.expect_text("h1", "No access").await;
    assert!(w
        .browser
        .source()
        .await
        .unwrap()
        .contains(&oidc::subject_of("alice")));
    w.shot("no-access").await;
    assert!(w.browser.get_named_cookie("cognate-console").await.is_err());
    // "Sign in with another account" asks the provider to sign in again
    // (prompt=login) instead of reusing alice's session there.
    assert!(w
        .browser
        .exists("a[href='/login?prompt=login']")
        .await
        .unwrap());
    w.sign_in_with(
        &format!("prompt=login&login_hint=olivia&next={pools}"),
        &pools,
    )
    .await;
    w.expect_text("h1", "Identity pools").await;
    let cookie = w.browser.get_named_cookie("cognate-console").await.unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    // Every page forbids script, framing and other origins.
    let page = w
        .app
        .http
        .get(format!("{}/signin", w.console))
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"), "{csp}");
    // The sign-in is in the account's audit trail (CloudTrail's ConsoleLogin).
    let row = w
        .reload_until(
            &format!("/accounts/{ACCOUNT_A}/audit?name=ConsoleLogin"),
            "table.events tbody tr",
        )
        .await;
    assert!(
        row.contains("operator olivia") && row.contains("OK"),
        "{row}"
    );
    w.browser.click("table.events tbody tr a").await.unwrap();
    let event: serde_json::Value =
        serde_json::from_str(&w.browser.text_of("pre.json").await.unwrap()).unwrap();
    assert_eq!(event["eventSource"], "signin.amazonaws.com");
    assert_eq!(event["responseElements"]["ConsoleLogin"], "Success");
    // Signing out ends the session: the next page asks to sign in again.
    w.sign_out().await;
    w.visit(&pools).await;
    w.browser.wait_for_url("/signin").await.unwrap();
    w.browser.close().await.unwrap();
}

#[tokio::test]
async fn an_operator_edits_a_pool_after_a_diff_and_the_change_is_in_the_audit_trail() {
    let Some(w) = world().await else { return };
    let pool = w.pool_with_guests("photos", 3).await;
    w.sign_in("olivia", "/").await;
    w.expect_text("h1", "Accounts").await;
    w.shot("accounts").await;
    w.browser
        .click(&format!("a[href='/accounts/{ACCOUNT_A}/pools']"))
        .await
        .unwrap();
    let row = w.browser.text_of("tbody tr").await.unwrap();
    assert!(
        row.contains("photos") && row.contains(&pool) && row.contains('3'),
        "{row}"
    );
    w.shot("pools").await;
    w.browser.click("tbody tr a").await.unwrap();
    w.expect_text("h1", "photos").await;
    let page = w.browser.text_of("main").await.unwrap();
    for shown in [
        "graph.facebook.com",
        "role/signed-in",
        "isAdmin",
        "equals",
        "role/admin",
        DEV_PROVIDER,
    ] {
        assert!(page.contains(shown), "the pool page shows {shown}: {page}");
    }
    w.shot("pool").await;
    w.browser.click("a[href$='/edit']").await.unwrap();
    w.browser.fill("#name", "holiday-photos").await.unwrap();
    w.browser.click("#allow_unauthenticated").await.unwrap();
    w.shot("pool-edit").await;
    w.browser.submit_form("form.edit").await.unwrap();
    w.expect_text("h1", "Confirm changes").await;
    let diff = w.browser.text_of("table.diff").await.unwrap();
    assert!(
        diff.contains("photos") && diff.contains("holiday-photos"),
        "{diff}"
    );
    assert!(diff.contains("Guest identities"), "{diff}");
    assert!(
        !diff.contains("Authenticated role"),
        "only what changes: {diff}"
    );
    w.shot("pool-diff").await;
    // Nothing is saved before the confirmation.
    let described = describe_pool(&w.app.client, &pool).send().await.unwrap();
    assert_eq!(described.identity_pool_name, "photos");
    w.confirm("updated").await;
    let described = describe_pool(&w.app.client, &pool).send().await.unwrap();
    assert_eq!(described.identity_pool_name, "holiday-photos");
    assert!(!described.allow_unauthenticated_identities);
    assert_eq!(described.developer_provider_name(), Some(DEV_PROVIDER));
    let roles = get_roles(&w.app.client, &pool).send().await.unwrap();
    assert_eq!(
        roles.role_mappings().map(|m| m.len()),
        Some(1),
        "role mappings kept"
    );
    // The change is in the audit trail, made by the operator.
    w.visit(&format!(
        "/accounts/{ACCOUNT_A}/audit?name=UpdateIdentityPool"
    ))
    .await;
    let row = w.browser.text_of("table.events tbody tr").await.unwrap();
    assert!(
        row.contains("UpdateIdentityPool") && row.contains("operator olivia"),
        "{row}"
    );
    w.shot("audit").await;
    w.browser.click("table.events tbody tr a").await.unwrap();
    let event: serde_json::Value =
        serde_json::from_str(&w.browser.text_of("pre.json").await.unwrap()).unwrap();
    assert_eq!(event["userIdentity"]["type"], "WebIdentityUser");
    assert_eq!(
        event["userIdentity"]["principalId"],
        format!("{}:{}", w.idp.issuer, oidc::subject_of("olivia"))
    );
    assert_eq!(
        event["requestParameters"]["identityPoolName"], "holiday-photos",
        "{event:#}"
    );
    assert_eq!(event["recipientAccountId"], ACCOUNT_A);
    w.shot("audit-event").await;
    w.browser.close().await.unwrap();
}

#[tokio::test]
async fn an_operator_finds_an_identity_three_ways_then_unlinks_merges_and_deletes_it_with_confirmation(
) {
    let Some(w) = world().await else { return };
    let pool = w.pool("games").await;
    let identity = w.developer_identity(&pool, "player-1", Some("carol")).await;
    let other = w.developer_identity(&pool, "player-2", None).await;
    assert_ne!(identity, other);
    let provider = w.idp.provider_name();
    let identity_page = format!("/accounts/{ACCOUNT_A}/identities/{identity}");
    w.sign_in("olivia", &format!("/accounts/{ACCOUNT_A}/identities"))
        .await;
    w.shot("find").await;
    // By identity id.
    w.find(1, &[("#by-id", &identity)]).await;
    w.browser.wait_for_url(&identity_page).await.unwrap();
    let page = w.browser.text_of("main").await.unwrap();
    assert!(
        page.contains("player-1") && page.contains(&provider),
        "{page}"
    );
    assert!(
        !page.contains(&oidc::subject_of("carol")),
        "upstream subjects are never shown: {page}"
    );
    w.shot("identity").await;
    // By developer user identifier.
    w.find(2, &[("#by-developer", "player-1")]).await;
    w.browser.wait_for_url(&identity_page).await.unwrap();
    // By provider and upstream subject (hashed for the look-up).
    let carol = oidc::subject_of("carol");
    w.find(3, &[("#by-provider", &provider), ("#by-subject", &carol)])
        .await;
    w.browser.wait_for_url(&identity_page).await.unwrap();
    // A subject nobody has: said so.
    let nobody = oidc::subject_of("nobody");
    w.find(3, &[("#by-provider", &provider), ("#by-subject", &nobody)])
        .await;
    w.expect_text("p.notice", "No identity matches").await;

    // Unlink the upstream login, after a confirmation.
    w.visit(&identity_page).await;
    w.browser
        .click(&format!(
            "a[href*='unlink?provider={}']",
            provider.replace(':', "%3A")
        ))
        .await
        .unwrap();
    w.expect_text("h1", "Unlink this login?").await;
    w.shot("unlink-confirm").await;
    assert_eq!(
        w.logins_of(&identity).await.len(),
        2,
        "nothing unlinked before the confirmation"
    );
    w.confirm("unlinked").await;
    assert_eq!(w.logins_of(&identity).await, [DEV_PROVIDER]);

    // Merge player-2 into this identity.
    w.browser.click("a[href$='/merge']").await.unwrap();
    w.submit_edit(&[("#source", "player-2")]).await;
    w.expect_text("h1", "Merge these developer users?").await;
    w.shot("merge-confirm").await;
    w.confirm("merged").await;
    let page = w.browser.text_of("main").await.unwrap();
    assert!(
        page.contains("player-1") && page.contains("player-2"),
        "{page}"
    );

    // Delete it, after a confirmation.
    w.browser.click("a.button.danger").await.unwrap();
    w.expect_text("h1", "Delete this identity?").await;
    w.shot("delete-confirm").await;
    w.confirm("deleted").await;
    w.shot("pool-identities").await;
    let gone = describe_identity(&w.app.client, &identity).send().await;
    assert!(gone.is_err(), "the identity is deleted");

    // Each change is in the identity's audit trail, made by the operator.
    w.visit(&format!("/accounts/{ACCOUNT_A}/audit?identity={identity}"))
        .await;
    let events = w.browser.text_of("table.events tbody").await.unwrap();
    for name in [
        "DeleteIdentities",
        "MergeDeveloperIdentities",
        "UnlinkIdentity",
    ] {
        assert!(events.contains(name), "{name} is recorded: {events}");
    }
    assert!(events.contains("operator olivia"), "{events}");
    w.browser.close().await.unwrap();
}

#[tokio::test]
async fn a_viewer_sees_no_way_to_change_anything_and_a_forged_post_is_refused() {
    let Some(w) = world().await else { return };
    let (pool, identity) = w.pool_with_user("readonly", "v-1").await;
    w.sign_in("victor", &format!("/accounts/{ACCOUNT_A}/pools/{pool}"))
        .await;
    w.expect_text("h1", "readonly").await;
    assert!(
        !w.browser.exists("a[href$='/edit']").await.unwrap(),
        "no Edit button"
    );
    w.shot("pool-as-viewer").await;
    let identity_page = format!("/accounts/{ACCOUNT_A}/identities/{identity}");
    w.visit(&identity_page).await;
    w.expect_text("h1", "Identity").await;
    for button in [
        "a[href*='unlink']",
        "a[href$='/delete']",
        "a[href$='/merge']",
    ] {
        assert!(!w.browser.exists(button).await.unwrap(), "no {button}");
    }
    w.shot("identity-as-viewer").await;
    // The pages behind the buttons are refused too...
    w.visit(&format!("/accounts/{ACCOUNT_A}/pools/{pool}/edit"))
        .await;
    w.expect_text("h1", "Not allowed").await;
    // ...and so is a forged POST with the viewer's own session and CSRF token.
    w.visit(&identity_page).await;
    let csrf = w.csrf().await;
    let (status, body) = w
        .post(&format!("{identity_page}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("viewer"), "{body}");
    let (status, _) = w
        .post(
            &format!("/accounts/{ACCOUNT_A}/pools/{pool}/edit"),
            &[("csrf", &csrf), ("name", "x")],
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        w.logins_of(&identity).await,
        [DEV_PROVIDER],
        "nothing changed"
    );
    // The keys page has no rotate button for a viewer.
    w.visit("/keys").await;
    assert!(!w.browser.exists("a[href='/keys/rotate']").await.unwrap());
    w.browser.close().await.unwrap();
}

#[tokio::test]
async fn a_post_without_the_sessions_csrf_token_is_refused() {
    let Some(w) = world().await else { return };
    let (_, identity) = w.pool_with_user("guarded", "g-1").await;
    let identity_page = format!("/accounts/{ACCOUNT_A}/identities/{identity}");
    w.sign_in("olivia", &identity_page).await;
    let csrf = w.csrf().await;
    for form in [vec![], vec![("csrf", "forged")]] {
        let (status, body) = w.post(&format!("{identity_page}/delete"), &form).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("CSRF"), "{body}");
    }
    let (status, _) = w.post("/logout", &[]).await;
    assert_eq!(status, 403, "signing out takes the token too");
    assert_eq!(w.logins_of(&identity).await, [DEV_PROVIDER], "not deleted");
    // With the token, the same request goes through.
    let (status, _) = w
        .post(&format!("{identity_page}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 303);
    assert!(!identity_exists(&w.app.client, &identity).await);
    w.browser.close().await.unwrap();
}

#[tokio::test]
async fn an_operator_of_one_account_never_sees_another_accounts_pools_or_identities() {
    let Some(w) = world().await else { return };
    let b = w.app.client_b();
    let theirs = create_pool_with(&b, "account-b-secret-pool", true, |r| r).await;
    let their_identity = get_id(&b, &theirs, &[]).send().await.unwrap();
    let their_identity = their_identity.identity_id.unwrap();
    w.sign_in("olivia", "/").await;
    let home = w.browser.text_of("main").await.unwrap();
    assert!(
        home.contains(ACCOUNT_A) && !home.contains(ACCOUNT_B),
        "{home}"
    );
    for path in [
        format!("/accounts/{ACCOUNT_B}/pools"),
        format!("/accounts/{ACCOUNT_B}/pools/{theirs}"),
        format!("/accounts/{ACCOUNT_B}/identities/{their_identity}"),
        format!("/accounts/{ACCOUNT_B}/audit"),
        format!("/accounts/{ACCOUNT_A}/pools/{theirs}"),
        format!("/accounts/{ACCOUNT_A}/pools/{theirs}/identities"),
        format!("/accounts/{ACCOUNT_A}/identities/{their_identity}"),
    ] {
        w.visit(&path).await;
        w.expect_text("h1", "Not found").await;
        let page = w.browser.source().await.unwrap();
        assert!(
            !page.contains("account-b-secret-pool"),
            "{path} shows nothing of B"
        );
    }
    w.shot("not-found").await;
    // The trail of every account is for those who see every account.
    w.visit("/audit").await;
    w.expect_text("h1", "Not found").await;
    // Nor does a search find B's identity from A.
    w.visit(&format!(
        "/accounts/{ACCOUNT_A}/identities?by=id&value={their_identity}"
    ))
    .await;
    w.expect_text("p.notice", "No identity matches").await;
    // Nor a forged change.
    w.visit("/").await;
    let csrf = w.csrf().await;
    for account in [ACCOUNT_A, ACCOUNT_B] {
        let delete = format!("/accounts/{account}/identities/{their_identity}/delete");
        let (status, _) = w.post(&delete, &[("csrf", &csrf)]).await;
        assert_eq!(status, 404);
    }
    assert!(identity_exists(&w.app.client_b(), &their_identity).await);
    w.browser.close().await.unwrap();
}

#[tokio::test]
async fn an_operator_of_every_account_rotates_the_signing_key_and_it_is_in_the_jwks() {
    let Some(w) = world().await else { return };
    w.pool_with_guests("busy", 4).await;
    // A refused call, to be counted as an error.
    let unknown = "us-east-1:00000000-0000-0000-0000-000000000000";
    let _ = describe_pool(&w.app.client, unknown).send().await;
    // Someone no operator entry matches tries first: refused, and recorded
    // for the operators.
    w.visit("/login?login_hint=mallory&next=/").await;
    w.expect_text("h1", "No access").await;
    w.browser.delete_all_cookies().await.unwrap();
    w.sign_in("admin-ada", "/keys").await;
    w.expect_text("h1", "Token signing keys").await;
    let before = w.browser.text_of("tbody").await.unwrap();
    w.shot("keys").await;
    w.browser.click("a[href='/keys/rotate']").await.unwrap();
    w.expect_text("h1", "Rotate the signing key?").await;
    w.shot("rotate-confirm").await;
    w.browser.submit_form("form.confirm").await.unwrap();
    let notice = w
        .browser
        .wait_for_text("p.notice", "new signing key")
        .await
        .unwrap();
    let kid = notice
        .rsplit("kid: ")
        .next()
        .unwrap()
        .trim_end_matches('.')
        .to_owned();
    assert!(!before.contains(&kid), "a new key: {kid}");
    assert!(w.browser.text_of("tbody").await.unwrap().contains(&kid));
    let jwks_url = format!("{}/.well-known/jwks.json", w.app.address);
    let jwks = json_body(get(&w.app.http, &jwks_url).await).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(kids.contains(&kid.as_str()), "{kid} in {kids:?}");
    // Usage: the calls of account A per operation (the audit trail's
    // batches are written within audit.flush_interval_ms).
    let mut usage = String::new();
    for _ in 0..50 {
        w.visit(&format!("/accounts/{ACCOUNT_A}/usage")).await;
        usage = w.browser.text_of("main").await.unwrap();
        if usage.contains("GetId") && usage.contains("DescribeIdentityPool") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        usage.contains("GetId") && usage.contains("DescribeIdentityPool"),
        "{usage}"
    );
    let row = w
        .browser
        .text_of("table.usage tbody tr:first-child")
        .await
        .unwrap();
    let row = row.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        row, "GetId 4 0 0 4 0 0",
        "four guests made in the last hour"
    );
    w.shot("usage").await;
    // The trail of every account holds the refused sign-in, which no
    // account's own trail shows.
    let refused = w
        .reload_until(
            "/audit?name=ConsoleLogin&error=any",
            "table.events tbody tr",
        )
        .await;
    assert!(refused.contains("AccessDenied"), "{refused}");
    w.browser.click("table.events tbody tr a").await.unwrap();
    let event: serde_json::Value =
        serde_json::from_str(&w.browser.text_of("pre.json").await.unwrap()).unwrap();
    assert_eq!(
        event["userIdentity"]["principalId"],
        format!("{}:{}", w.idp.issuer, oidc::subject_of("mallory"))
    );
    w.visit(&format!(
        "/accounts/{ACCOUNT_A}/audit?name=ConsoleLogin&error=any"
    ))
    .await;
    w.expect_text("p.empty", "No events match").await;
    w.visit("/audit").await;
    w.shot("audit-everything").await;
    w.browser.close().await.unwrap();
}
