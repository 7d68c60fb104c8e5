//! Who is calling and what they may do: identities from token files, the five roles, and the
//! one check every operation passes ([`authorize`]). No other crate compares roles.
//!
//! An identity has an auth role (`ingest` < `read` < `operate` < `approve` < `admin`) and,
//! to answer approvals, a policy role (what the policy's `may_approve` names). Tokens are
//! compared in constant time; a file may hold a token's SHA-256 instead of the token.

use crate::Operation;
use model::{Classify, ErrorClass};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// What a caller may do, each role including the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Write samples, log lines and alerts.
    Ingest,
    /// Read incidents, windows, SQL and metrics.
    Read,
    /// Reload rules, pause the robot, regenerate drafts, record feedback.
    Operate,
    /// Answer approvals and resume the robot.
    Approve,
    /// Reload policy and change settings.
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Ingest,
        Role::Read,
        Role::Operate,
        Role::Approve,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Approve => "approve",
            Role::Admin => "admin",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity an operation runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name (`anonymous` where no token is needed), written to the audit log.
    pub name: String,
    pub role: Role,
    /// The policy role this identity answers approvals with (`sre-oncall`, ...).
    pub policy_role: Option<String>,
}

impl Caller {
    /// The caller of a server that needs no token (loopback, or `--insecure`): admin.
    pub fn anonymous() -> Self {
        Caller {
            name: "anonymous".to_owned(),
            role: Role::Admin,
            policy_role: None,
        }
    }
}

/// Why an operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing Authorization: Bearer <token> header")]
    Missing,
    #[error("bearer token does not match any known token")]
    Unknown,
    #[error("{operation} needs the {required} role; token {caller:?} has {has}")]
    Forbidden {
        operation: &'static str,
        caller: String,
        has: Role,
        required: Role,
    },
    #[error("{operation} needs an identity with a policy role; token {caller:?} has none")]
    NoPolicyRole {
        operation: &'static str,
        caller: String,
    },
    #[error("tokens file {path}: {detail}")]
    File { path: PathBuf, detail: String },
}

impl AuthError {
    /// The least role the refused operation needs, for the `required_role` field of a 403.
    pub fn required_role(&self) -> Option<Role> {
        match self {
            AuthError::Forbidden { required, .. } => Some(*required),
            AuthError::NoPolicyRole { .. } => Some(Role::Approve),
            _ => None,
        }
    }
}

impl Classify for AuthError {
    fn class(&self) -> ErrorClass {
        match self {
            AuthError::Missing | AuthError::Unknown => ErrorClass::Unauthenticated,
            AuthError::Forbidden { .. } | AuthError::NoPolicyRole { .. } => ErrorClass::Forbidden,
            AuthError::File { .. } => ErrorClass::InvalidInput,
        }
    }
}

/// The one role check: `caller` may run `operation` when its role is at least the
/// operation's least role (and, for answering approvals, it carries a policy role).
pub fn authorize(caller: &Caller, operation: Operation) -> Result<(), AuthError> {
    let required = operation.least_role();
    if caller.role < required {
        return Err(AuthError::Forbidden {
            operation: operation.name(),
            caller: caller.name.clone(),
            has: caller.role,
            required,
        });
    }
    if operation.needs_policy_role() && caller.policy_role.is_none() {
        return Err(AuthError::NoPolicyRole {
            operation: operation.name(),
            caller: caller.name.clone(),
        });
    }
    Ok(())
}

/// Constant-time comparison, so a secret cannot be guessed byte by byte from timings.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// How a token is known: the token itself, or its SHA-256.
#[derive(Clone)]
enum Secret {
    Plain(Vec<u8>),
    Sha256([u8; 32]),
}

impl Secret {
    fn matches(&self, presented: &[u8]) -> bool {
        match self {
            Secret::Plain(token) => same_secret(token, presented),
            Secret::Sha256(digest) => {
                let got: [u8; 32] = Sha256::digest(presented).into();
                digest.ct_eq(&got).into()
            }
        }
    }
}

/// One known token.
#[derive(Clone)]
struct Entry {
    caller: Caller,
    secret: Secret,
    telegram_user_id: Option<i64>,
    slack_user_id: Option<String>,
}

/// An identity as a chat user: who a Telegram or Slack user acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatIdentity {
    pub caller: Caller,
    pub telegram_user_id: Option<i64>,
    pub slack_user_id: Option<String>,
}

/// `[[token]]` of a tokens file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    role: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    policy_role: Option<String>,
    /// The Telegram user this identity is, for the chat channels.
    #[serde(default)]
    telegram_user_id: Option<i64>,
    /// The Slack user this identity is, for the chat channels.
    #[serde(default)]
    slack_user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

/// Every identity a server knows. Empty means no token is needed: every caller is admin.
#[derive(Clone, Default)]
pub struct Identities {
    entries: Vec<Entry>,
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| (&e.caller.name, e.caller.role)))
            .finish()
    }
}

/// Shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Identities {
    /// Whether any token is needed at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds one identity known by its token.
    pub fn add(&mut self, caller: Caller, token: &str) {
        self.entries.push(Entry {
            caller,
            secret: Secret::Plain(token.as_bytes().to_vec()),
            telegram_user_id: None,
            slack_user_id: None,
        });
    }

    /// Reads `[auth] tokens_file`: `[[token]]` entries with `name`, `role`, and `token` or
    /// `sha256`, optionally `policy_role`. The file must not be readable by group or others.
    pub fn load_file(&mut self, path: &Path) -> Result<(), AuthError> {
        let fail = |detail: String| AuthError::File {
            path: path.to_owned(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| fail(format!("cannot stat: {e}")))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(fail(format!(
                    "readable by group or others (mode {:o}); chmod 600 it",
                    mode & 0o777
                )));
            }
        }
        let file: TokensFile = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        for entry in file.token {
            let name = entry.name.trim();
            if name.is_empty() {
                return Err(fail("a [[token]] has an empty name".to_owned()));
            }
            if self.entries.iter().any(|e| e.caller.name == name) {
                return Err(fail(format!("token name {name:?} appears twice")));
            }
            let role = Role::from_name(&entry.role).ok_or_else(|| {
                fail(format!(
                    "token {name:?}: role {:?} is not one of ingest, read, operate, approve, admin",
                    entry.role
                ))
            })?;
            let secret =
                match (entry.token, entry.sha256) {
                    (Some(token), None) if token.trim().len() >= MIN_TOKEN_LEN => {
                        Secret::Plain(token.trim().as_bytes().to_vec())
                    }
                    (Some(_), None) => {
                        return Err(fail(format!(
                            "token {name:?}: shorter than {MIN_TOKEN_LEN} characters"
                        )));
                    }
                    (None, Some(hex)) => Secret::Sha256(parse_sha256(&hex).ok_or_else(|| {
                        fail(format!("token {name:?}: sha256 is not 64 hex digits"))
                    })?),
                    _ => {
                        return Err(fail(format!(
                            "token {name:?}: give exactly one of `token` or `sha256`"
                        )));
                    }
                };
            self.entries.push(Entry {
                caller: Caller {
                    name: name.to_owned(),
                    role,
                    policy_role: entry.policy_role.filter(|r| !r.trim().is_empty()),
                },
                secret,
                telegram_user_id: entry.telegram_user_id,
                slack_user_id: entry.slack_user_id.filter(|s| !s.trim().is_empty()),
            });
        }
        Ok(())
    }

    /// Identities that name a Telegram or Slack user (`telegram_user_id`, `slack_user_id`).
    pub fn chat_identities(&self) -> Vec<ChatIdentity> {
        self.entries
            .iter()
            .filter(|e| e.telegram_user_id.is_some() || e.slack_user_id.is_some())
            .map(|e| ChatIdentity {
                caller: e.caller.clone(),
                telegram_user_id: e.telegram_user_id,
                slack_user_id: e.slack_user_id.clone(),
            })
            .collect()
    }

    /// The caller a request's bearer token (if any) belongs to. With no identities known every
    /// caller is [`Caller::anonymous`].
    pub fn authenticate(&self, bearer: Option<&str>) -> Result<Caller, AuthError> {
        let found = bearer.and_then(|token| {
            let token = token.trim().as_bytes();
            // Every entry is compared, so timing does not tell which one matched.
            let mut found = None;
            for entry in &self.entries {
                if entry.secret.matches(token) && found.is_none() {
                    found = Some(&entry.caller);
                }
            }
            found
        });
        match (found, bearer, self.is_empty()) {
            (Some(caller), _, _) => Ok(caller.clone()),
            (None, _, true) => Ok(Caller::anonymous()),
            (None, None, false) => Err(AuthError::Missing),
            (None, Some(_), false) => Err(AuthError::Unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, policy_role: Option<&str>) -> Caller {
        Caller {
            name: "t".into(),
            role,
            policy_role: policy_role.map(str::to_owned),
        }
    }

    #[test]
    fn roles_are_ordered_and_checked_once() {
        let ingest = caller(Role::Ingest, None);
        assert!(authorize(&ingest, Operation::RemoteWrite).is_ok());
        let denied = authorize(&ingest, Operation::Sql).unwrap_err();
        assert_eq!(denied.required_role(), Some(Role::Read));
        assert_eq!(denied.class(), ErrorClass::Forbidden);
        let approver = caller(Role::Approve, Some("sre-oncall"));
        assert!(authorize(&approver, Operation::Approve).is_ok());
        assert!(authorize(&approver, Operation::ReloadPolicy).is_err());
        // An admin without a policy role cannot approve.
        let admin = caller(Role::Admin, None);
        assert!(authorize(&admin, Operation::ReloadPolicy).is_ok());
        assert!(matches!(
            authorize(&admin, Operation::Approve),
            Err(AuthError::NoPolicyRole { .. })
        ));
    }

    #[test]
    fn tokens_by_value_or_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let digest: [u8; 32] = Sha256::digest(b"reader-token-0123456789").into();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(
            &path,
            format!(
                "[[token]]\nname = \"prometheus\"\nrole = \"ingest\"\ntoken = \"ingest-token-0123456789\"\n\n\
                 [[token]]\nname = \"grafana\"\nrole = \"read\"\nsha256 = \"{hex}\"\n"
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut ids = Identities::default();
        ids.load_file(&path).unwrap();
        let p = ids.authenticate(Some("ingest-token-0123456789")).unwrap();
        assert_eq!((p.name.as_str(), p.role), ("prometheus", Role::Ingest));
        let g = ids.authenticate(Some("reader-token-0123456789")).unwrap();
        assert_eq!((g.name.as_str(), g.role), ("grafana", Role::Read));
        assert!(matches!(
            ids.authenticate(Some("nope")),
            Err(AuthError::Unknown)
        ));
        assert!(matches!(ids.authenticate(None), Err(AuthError::Missing)));
        assert_eq!(
            Identities::default().authenticate(None).unwrap().role,
            Role::Admin
        );
    }

    #[test]
    fn bad_files_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let cases = [
            (
                "[[token]]\nname = \"a\"\nrole = \"root\"\ntoken = \"0123456789abcdef\"\n",
                "role \"root\"",
            ),
            (
                "[[token]]\nname = \"a\"\nrole = \"read\"\ntoken = \"short\"\n",
                "shorter than 16",
            ),
            (
                "[[token]]\nname = \"a\"\nrole = \"read\"\n",
                "exactly one of",
            ),
            (
                "[[token]]\nname = \"a\"\nrole = \"read\"\nsha256 = \"xyz\"\n",
                "64 hex",
            ),
        ];
        for (text, want) in cases {
            std::fs::write(&path, text).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            let err = Identities::default()
                .load_file(&path)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = Identities::default()
                .load_file(&path)
                .unwrap_err()
                .to_string();
            assert!(err.contains("group or others"), "{err}");
        }
    }
}
