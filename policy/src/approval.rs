//! Approvals: requests for actions the policy will not run alone, answered with single-use,
//! expiring tokens bound to the action, its parameters and the approver's role (HMAC-SHA256).
//!
//! A token is `base64url(claims).base64url(mac)`; the key lives in the data dir (mode 0600).
//! Approving re-checks the approver's permission and re-runs [`decide()`] at approval time, so
//! a cooldown or a policy change since the request still refuses. Only an [`Authorization`]
//! (made here or from an automatic decision) can reach the executor.

use crate::decide::{Decision, History, IncidentView, LiveObject, Verdict, action_digest, decide};
use crate::file::Policy;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use model::{Action, ProposedAction, RiskClass};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

type HmacSha256 = Hmac<Sha256>;

/// File name of the signing key inside the data dir.
pub const KEY_FILE: &str = "approval.key";

/// Why an approval step was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("approval request {id} not found")]
    NotFound { id: String },
    #[error("approval token for {id} expired at {expired_at_ms} (now {now_ms})")]
    Expired {
        id: String,
        expired_at_ms: i64,
        now_ms: i64,
    },
    #[error("approval token for {id} was already used")]
    Reused { id: String },
    #[error("approval token for {id} is invalid: {detail}")]
    Tampered { id: String, detail: &'static str },
    #[error("role {role:?} may not approve {risk} actions")]
    WrongPermission { role: String, risk: RiskClass },
    #[error("approval request {id} is already {status}")]
    AlreadyDecided { id: String, status: ApprovalStatus },
    #[error("a {verdict} decision needs no approval request")]
    NotApprovable { verdict: Verdict },
    #[error("the policy now refuses the action ({clause}): {reason}")]
    Refused { clause: String, reason: String },
    #[error("modification refused: {reason}")]
    InvalidModification { reason: String },
    #[error("no approver role may approve {risk} actions")]
    NoApprover { risk: RiskClass },
    #[error("approval key {path}: {detail}")]
    Key {
        path: PathBuf,
        detail: &'static str,
        #[source]
        source: Option<std::io::Error>,
    },
}

impl model::Classify for ApprovalError {
    fn class(&self) -> model::ErrorClass {
        match self {
            ApprovalError::NotFound { .. } => model::ErrorClass::NotFound,
            ApprovalError::Key { .. } => model::ErrorClass::Internal,
            _ => model::ErrorClass::InvalidInput,
        }
    }
}

/// The HMAC key tokens are signed with.
pub struct ApprovalKey {
    bytes: [u8; 32],
}

impl fmt::Debug for ApprovalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApprovalKey(..)")
    }
}

impl ApprovalKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ApprovalKey { bytes }
    }

    /// A fresh random key (for tests and ephemeral runs).
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill(&mut bytes);
        ApprovalKey { bytes }
    }

    /// Reads `data_dir/approval.key`, creating it (random, mode 0600) if missing. A key file
    /// readable by group or others is refused.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, ApprovalError> {
        let path = data_dir.join(KEY_FILE);
        let key_err = |detail, source| ApprovalError::Key {
            path: path.clone(),
            detail,
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let meta =
                        std::fs::metadata(&path).map_err(|e| key_err("cannot stat", Some(e)))?;
                    if meta.permissions().mode() & 0o077 != 0 {
                        return Err(key_err("readable by group or others (chmod 600)", None));
                    }
                }
                let raw = hex::decode(text.trim()).map_err(|_| key_err("not hex", None))?;
                let bytes: [u8; 32] = raw
                    .try_into()
                    .map_err(|_| key_err("must hold 32 bytes", None))?;
                Ok(ApprovalKey { bytes })
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir)
                    .map_err(|e| key_err("cannot create the data dir", Some(e)))?;
                let key = ApprovalKey::random();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options
                    .open(&path)
                    .map_err(|e| key_err("cannot create", Some(e)))?;
                file.write_all(hex::encode(key.bytes).as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| key_err("cannot write", Some(e)))?;
                Ok(key)
            }
            Err(err) => Err(key_err("cannot read", Some(err))),
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; 32 bytes never fails.
        match HmacSha256::new_from_slice(&self.bytes) {
            Ok(mac) => mac,
            Err(_) => unreachable_mac(),
        }
    }
}

#[cold]
fn unreachable_mac() -> HmacSha256 {
    // new_from_slice only fails for fixed-size MACs; HMAC accepts every key length.
    <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default())
}

/// Where an approval request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
    /// Closed by the robot unanswered: the action was decided again and no longer asks.
    Withdrawn,
}

impl ApprovalStatus {
    pub const ALL: [ApprovalStatus; 5] = [
        ApprovalStatus::Pending,
        ApprovalStatus::Approved,
        ApprovalStatus::Rejected,
        ApprovalStatus::Expired,
        ApprovalStatus::Withdrawn,
    ];

    /// The status its name (as displayed) names.
    pub fn parse(text: &str) -> Option<ApprovalStatus> {
        Self::ALL.into_iter().find(|s| s.to_string() == text)
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Withdrawn => "withdrawn",
        })
    }
}

/// Who answers: the name and role from the approver's API credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApproverIdentity {
    pub name: String,
    pub role: String,
}

/// A request for approval of one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub id: String,
    pub incident: IncidentView,
    pub proposed: ProposedAction,
    /// The decision that asked for approval.
    pub decision: Decision,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub status: ApprovalStatus,
    #[serde(default)]
    pub answered_by: Option<ApproverIdentity>,
    #[serde(default)]
    pub answered_ms: Option<i64>,
    /// Rejection reason or modification note.
    #[serde(default)]
    pub note: Option<String>,
}

/// A token handed to one approver role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    pub request_id: String,
    pub role: String,
    pub token: String,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    rid: String,
    dig: String,
    role: String,
    exp: i64,
    nonce: String,
}

/// Proof that an action may run: an automatic decision, or an approval with a valid token.
/// It cannot be deserialized or built field by field, only by [`Authorization::automatic`]
/// and [`Approvals::approve`] / [`Approvals::modify`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Authorization {
    proposed: ProposedAction,
    decision: Decision,
    approval: Option<ApprovalRecord>,
}

/// Who approved, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub request_id: String,
    pub approver: ApproverIdentity,
    pub at_ms: i64,
}

/// Why an [`Authorization`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAuthorized {
    #[error("the decision is {verdict} ({clause}), not auto")]
    NotAutomatic { verdict: Verdict, clause: String },
    #[error("the decision was made for another action")]
    WrongAction,
}

impl model::Classify for NotAuthorized {
    fn class(&self) -> model::ErrorClass {
        model::ErrorClass::InvalidInput
    }
}

impl Authorization {
    /// Authorizes an action the policy decided to run automatically.
    pub fn automatic(
        proposed: ProposedAction,
        decision: Decision,
    ) -> Result<Authorization, NotAuthorized> {
        if decision.verdict != Verdict::Auto {
            return Err(NotAuthorized::NotAutomatic {
                verdict: decision.verdict,
                clause: decision.clause,
            });
        }
        if decision.action_digest != action_digest(&proposed) {
            return Err(NotAuthorized::WrongAction);
        }
        Ok(Authorization {
            proposed,
            decision,
            approval: None,
        })
    }

    pub fn proposed(&self) -> &ProposedAction {
        &self.proposed
    }

    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    pub fn approval(&self) -> Option<&ApprovalRecord> {
        self.approval.as_ref()
    }

    /// Whether the action must run with server-side dry-run.
    pub fn dry_run(&self) -> bool {
        self.decision.dry_run
    }

    /// Whether the authorization still covers exactly this proposal.
    pub fn covers(&self, proposed: &ProposedAction) -> bool {
        self.decision.action_digest == action_digest(proposed) && self.proposed == *proposed
    }
}

/// Requests and used token nonces; serializable so the ledger can keep them across restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApprovalState {
    pub requests: BTreeMap<String, ApprovalRequest>,
    /// Nonces of tokens already answered, with the time their token expires: past it the
    /// token is refused as expired anyway, so the nonce is forgotten ([`Approvals::prune`]).
    #[serde(deserialize_with = "nonces")]
    pub used_nonces: BTreeMap<String, i64>,
}

/// Used nonces as stored now (nonce → expiry) or before expiries were kept (a list; those
/// are kept until a prune a day from now, longer than any token lives).
fn nonces<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Map(BTreeMap<String, i64>),
        List(BTreeSet<String>),
    }
    Ok(match Stored::deserialize(d)? {
        Stored::Map(map) => map,
        Stored::List(list) => {
            let day_from_now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX))
                .saturating_add(86_400_000);
            list.into_iter().map(|n| (n, day_from_now)).collect()
        }
    })
}

/// The approval book: opens requests, issues tokens and answers them.
#[derive(Debug)]
pub struct Approvals {
    key: ApprovalKey,
    ttl_ms: i64,
    state: ApprovalState,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(buf.as_mut_slice());
    hex::encode(buf)
}

impl Approvals {
    /// An empty book whose tokens live `ttl_ms`.
    pub fn new(key: ApprovalKey, ttl_ms: i64) -> Self {
        Approvals {
            key,
            ttl_ms,
            state: ApprovalState::default(),
        }
    }

    /// A book restored from saved state.
    pub fn with_state(key: ApprovalKey, ttl_ms: i64, state: ApprovalState) -> Self {
        Approvals { key, ttl_ms, state }
    }

    /// Forgets the nonces of tokens expired at `now_ms` (they are refused as expired); returns
    /// how many were forgotten.
    pub fn prune(&mut self, now_ms: i64) -> usize {
        let before = self.state.used_nonces.len();
        self.state
            .used_nonces
            .retain(|_, expires| *expires > now_ms);
        before - self.state.used_nonces.len()
    }

    pub fn state(&self) -> &ApprovalState {
        &self.state
    }

    pub fn get(&self, id: &str) -> Option<&ApprovalRequest> {
        self.state.requests.get(id)
    }

    /// Requests with this status (pending ones past expiry count as expired).
    pub fn list(&self, status: Option<ApprovalStatus>, now_ms: i64) -> Vec<&ApprovalRequest> {
        self.state
            .requests
            .values()
            .filter(|r| status.is_none_or(|s| effective_status(r, now_ms) == s))
            .collect()
    }

    /// Opens a request for a decision that needs approval and issues one token per role
    /// the policy lets approve the action's class.
    pub fn request(
        &mut self,
        incident: IncidentView,
        proposed: ProposedAction,
        decision: Decision,
        policy: &Policy,
        now_ms: i64,
    ) -> Result<(ApprovalRequest, Vec<IssuedToken>), ApprovalError> {
        if decision.verdict != Verdict::NeedsApproval {
            return Err(ApprovalError::NotApprovable {
                verdict: decision.verdict,
            });
        }
        if decision.action_digest != action_digest(&proposed) {
            return Err(ApprovalError::Tampered {
                id: String::new(),
                detail: "the decision was made for another action",
            });
        }
        let risk = decision.risk;
        let roles: Vec<String> = policy
            .approvers
            .iter()
            .filter(|a| policy.may_approve(&a.role, risk))
            .map(|a| a.role.clone())
            .collect();
        if roles.is_empty() {
            return Err(ApprovalError::NoApprover { risk });
        }
        let id = format!("apr-{}", random_hex(8));
        let request = ApprovalRequest {
            id: id.clone(),
            incident,
            proposed,
            decision,
            created_ms: now_ms,
            expires_ms: now_ms.saturating_add(self.ttl_ms),
            status: ApprovalStatus::Pending,
            answered_by: None,
            answered_ms: None,
            note: None,
        };
        let tokens = roles.iter().map(|role| self.sign(&request, role)).collect();
        self.state.requests.insert(id, request.clone());
        Ok((request, tokens))
    }

    /// Issues a fresh token for a pending request (e.g. for another channel).
    pub fn issue_token(
        &self,
        id: &str,
        role: &str,
        policy: &Policy,
        now_ms: i64,
    ) -> Result<IssuedToken, ApprovalError> {
        let request = self.pending(id, now_ms)?;
        if !policy.may_approve(role, request.decision.risk) {
            return Err(ApprovalError::WrongPermission {
                role: role.to_owned(),
                risk: request.decision.risk,
            });
        }
        Ok(self.sign(request, role))
    }

    fn sign(&self, request: &ApprovalRequest, role: &str) -> IssuedToken {
        let claims = Claims {
            rid: request.id.clone(),
            dig: action_digest(&request.proposed),
            role: role.to_owned(),
            exp: request.expires_ms,
            nonce: random_hex(16),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let mut mac = self.key.mac();
        mac.update(payload.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        IssuedToken {
            request_id: request.id.clone(),
            role: role.to_owned(),
            token: format!("{payload}.{sig}"),
            expires_ms: request.expires_ms,
        }
    }

    fn pending(&self, id: &str, now_ms: i64) -> Result<&ApprovalRequest, ApprovalError> {
        let request = self
            .state
            .requests
            .get(id)
            .ok_or_else(|| ApprovalError::NotFound { id: id.to_owned() })?;
        match effective_status(request, now_ms) {
            ApprovalStatus::Pending => Ok(request),
            ApprovalStatus::Expired => Err(ApprovalError::Expired {
                id: id.to_owned(),
                expired_at_ms: request.expires_ms,
                now_ms,
            }),
            status => Err(ApprovalError::AlreadyDecided {
                id: id.to_owned(),
                status,
            }),
        }
    }

    /// Checks a token for a request and an approver; returns its claims.
    fn verify(
        &self,
        id: &str,
        token: &str,
        approver: &ApproverIdentity,
        policy: &Policy,
        now_ms: i64,
    ) -> Result<Claims, ApprovalError> {
        let tampered = |detail| ApprovalError::Tampered {
            id: id.to_owned(),
            detail,
        };
        let request = self
            .state
            .requests
            .get(id)
            .ok_or_else(|| ApprovalError::NotFound { id: id.to_owned() })?;
        let (payload, sig) = token
            .split_once('.')
            .ok_or_else(|| tampered("not a token"))?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| tampered("bad signature encoding"))?;
        let mut mac = self.key.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| tampered("signature does not match"))?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or_else(|| tampered("unreadable claims"))?;
        if claims.rid != id {
            return Err(tampered("token is for another request"));
        }
        if self.state.used_nonces.contains_key(&claims.nonce) {
            return Err(ApprovalError::Reused { id: id.to_owned() });
        }
        if now_ms >= claims.exp {
            return Err(ApprovalError::Expired {
                id: id.to_owned(),
                expired_at_ms: claims.exp,
                now_ms,
            });
        }
        self.pending(id, now_ms)?;
        if claims.dig != action_digest(&request.proposed) {
            return Err(tampered("token is for other action parameters"));
        }
        let risk = request.decision.risk;
        if claims.role != approver.role || !policy.may_approve(&approver.role, risk) {
            return Err(ApprovalError::WrongPermission {
                role: approver.role.clone(),
                risk,
            });
        }
        Ok(claims)
    }

    /// Approves a request: checks the token and the approver's permission, re-runs the
    /// decision now, consumes the token and returns the authorization to execute.
    #[allow(clippy::too_many_arguments)]
    pub fn approve(
        &mut self,
        id: &str,
        token: &str,
        approver: &ApproverIdentity,
        policy: &Policy,
        history: &History,
        live: Option<&LiveObject>,
        now_ms: i64,
    ) -> Result<Authorization, ApprovalError> {
        let claims = self.verify(id, token, approver, policy, now_ms)?;
        let request = self
            .state
            .requests
            .get(id)
            .ok_or_else(|| ApprovalError::NotFound { id: id.to_owned() })?;
        let decision = decide(
            &request.incident,
            &request.proposed,
            policy,
            history,
            live,
            now_ms,
        );
        if decision.verdict == Verdict::Denied {
            return Err(ApprovalError::Refused {
                clause: decision.clause,
                reason: decision.reason,
            });
        }
        let proposed = request.proposed.clone();
        self.finish(
            id,
            (claims.nonce, claims.exp),
            approver,
            ApprovalStatus::Approved,
            None,
            now_ms,
        );
        Ok(Authorization {
            proposed,
            decision,
            approval: Some(ApprovalRecord {
                request_id: id.to_owned(),
                approver: approver.clone(),
                at_ms: now_ms,
            }),
        })
    }

    /// Rejects a request; the token is consumed.
    pub fn reject(
        &mut self,
        id: &str,
        token: &str,
        approver: &ApproverIdentity,
        reason: &str,
        policy: &Policy,
        now_ms: i64,
    ) -> Result<(), ApprovalError> {
        let claims = self.verify(id, token, approver, policy, now_ms)?;
        self.finish(
            id,
            (claims.nonce, claims.exp),
            approver,
            ApprovalStatus::Rejected,
            Some(reason.to_owned()),
            now_ms,
        );
        Ok(())
    }

    /// Approves with changed parameters: same action type and target, new parameters. The
    /// change is decided again; the approver must be allowed to approve its class.
    #[allow(clippy::too_many_arguments)]
    pub fn modify(
        &mut self,
        id: &str,
        token: &str,
        approver: &ApproverIdentity,
        action: Action,
        policy: &Policy,
        history: &History,
        live: Option<&LiveObject>,
        now_ms: i64,
    ) -> Result<Authorization, ApprovalError> {
        let claims = self.verify(id, token, approver, policy, now_ms)?;
        let request = self
            .state
            .requests
            .get(id)
            .ok_or_else(|| ApprovalError::NotFound { id: id.to_owned() })?;
        if action.name() != request.proposed.action.name() {
            return Err(ApprovalError::InvalidModification {
                reason: format!(
                    "only parameters may change: {} cannot become {}",
                    request.proposed.action.name(),
                    action.name()
                ),
            });
        }
        let mut proposed = request.proposed.clone();
        let note = format!("modified from {} to {action}", proposed.action);
        proposed.action = action;
        let decision = decide(&request.incident, &proposed, policy, history, live, now_ms);
        if decision.verdict == Verdict::Denied {
            return Err(ApprovalError::Refused {
                clause: decision.clause,
                reason: decision.reason,
            });
        }
        if decision.risk != RiskClass::ReadOnly
            && !policy.may_approve(&approver.role, decision.risk)
        {
            return Err(ApprovalError::WrongPermission {
                role: approver.role.clone(),
                risk: decision.risk,
            });
        }
        self.finish(
            id,
            (claims.nonce, claims.exp),
            approver,
            ApprovalStatus::Approved,
            Some(note),
            now_ms,
        );
        if let Some(r) = self.state.requests.get_mut(id) {
            r.proposed = proposed.clone();
        }
        Ok(Authorization {
            proposed,
            decision,
            approval: Some(ApprovalRecord {
                request_id: id.to_owned(),
                approver: approver.clone(),
                at_ms: now_ms,
            }),
        })
    }

    /// Closes a pending request nobody answered because the robot no longer needs an answer
    /// (the action was decided again and runs on its own); its tokens stop working.
    pub fn withdraw(&mut self, id: &str, note: String, now_ms: i64) -> Result<(), ApprovalError> {
        self.pending(id, now_ms)?;
        if let Some(r) = self.state.requests.get_mut(id) {
            r.status = ApprovalStatus::Withdrawn;
            r.answered_ms = Some(now_ms);
            r.note = Some(note);
        }
        Ok(())
    }

    fn finish(
        &mut self,
        id: &str,
        (nonce, expires_ms): (String, i64),
        approver: &ApproverIdentity,
        status: ApprovalStatus,
        note: Option<String>,
        now_ms: i64,
    ) {
        self.state.used_nonces.insert(nonce, expires_ms);
        if let Some(r) = self.state.requests.get_mut(id) {
            r.status = status;
            r.answered_by = Some(approver.clone());
            r.answered_ms = Some(now_ms);
            r.note = note;
        }
    }
}

fn effective_status(request: &ApprovalRequest, now_ms: i64) -> ApprovalStatus {
    if request.status == ApprovalStatus::Pending && now_ms >= request.expires_ms {
        ApprovalStatus::Expired
    } else {
        request.status
    }
}
