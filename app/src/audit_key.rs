//! Where the audit chain's key comes from: `[policy] audit_key_file`, required with a policy and
//! refused when others may read it; `serve --demo` gets a throwaway key outside the data dir.

use crate::config::{Config, PolicyConfig};
use policy::audit::{AuditError, AuditKey, AuditLog};
use std::path::{Path, PathBuf};

/// Opens `data_dir/audit.jsonl` under the configured key (sealing an unkeyed log once).
pub fn open_log(config: &PolicyConfig, data_dir: &Path) -> Result<AuditLog, AuditError> {
    let path = config
        .audit_key_file
        .as_deref()
        .ok_or(AuditError::KeyRequired)?;
    if let (Ok(key), Ok(dir)) = (path.canonicalize(), data_dir.canonicalize())
        && key.starts_with(&dir)
    {
        tracing::warn!(
            key = %path.display(),
            "policy.audit_key_file is inside the data dir: whoever can rewrite the audit log can \
             read its key; keep it elsewhere (a mounted secret)"
        );
    }
    AuditLog::open_in(data_dir, AuditKey::load(path)?)
}

/// For `serve --demo` with a policy and no key: a fresh key in the temp dir, mode 0600.
pub fn throwaway_key(config: &mut Config) -> Result<PathBuf, AuditError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let path = std::env::temp_dir().join(format!(
        "srebot-demo-audit-{}-{nanos}.key",
        std::process::id()
    ));
    AuditKey::create(&path)?;
    config.policy.audit_key_file = Some(path.clone());
    Ok(path)
}
